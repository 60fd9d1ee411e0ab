"""Long-text splitting: sentence ends in English and Chinese, breaks, long sentences, spans,
and the checks and file reading at the boundary."""

import codecs
import random
import time

import pytest

from mimo_core.errors import InputTooLongError, PromptError
from mimo_core.longform.sentences import CJK_WEIGHT, Weights, sentence_ends, spoken
from mimo_core.longform.split import (MAX_CHARS, MIN_CHARS, TARGET_CHARS, check_long_text,
                                      read_text_file, split_text, weighted_length)
from mimo_core.longform.textin import MAX_RUN_CHARS


def texts(text, **kw):
    return [s.text for s in split_text(text, **kw)]


def sentences(text):
    """Each sentence alone: a target too small to merge any two."""
    return texts(text, target_chars=3, min_chars=1)


def assert_valid(text, segments, max_chars=MAX_CHARS):
    """Spans are ordered and disjoint, cover every non-space character, and give the text."""
    covered, prev_end = [], 0
    for i, seg in enumerate(segments):
        assert seg.index == i
        assert prev_end <= seg.start < seg.end <= len(text)
        assert not text[seg.start].isspace() and not text[seg.end - 1].isspace()
        assert text[prev_end:seg.start].strip() == ""
        assert spoken(text[seg.start:seg.end]) == seg.text
        assert weighted_length(seg.text) <= max_chars
        covered.append(text[seg.start:seg.end])
        prev_end = seg.end
    assert text[prev_end:].strip() == ""
    assert "".join("".join(covered).split()) == "".join(text.split())
    if segments:
        assert segments[-1].paragraph_end


def test_defaults_fit_the_reasoning():
    assert TARGET_CHARS / CJK_WEIGHT == 80 and MAX_CHARS / CJK_WEIGHT == 120
    assert MIN_CHARS < TARGET_CHARS < MAX_CHARS
    assert weighted_length("  Hi,\n\n 你好 ") == 9.0                    # "Hi," 3 + one space + 2 x 2.5
    assert Weights("a  b")(0, 4) == 3.0


def test_english_sentences_merge_up_to_the_target():
    text = "One two three. " * 30
    segs = split_text(text)
    assert_valid(text, segs)
    assert all(weighted_length(s.text) <= TARGET_CHARS for s in segs)
    assert all(s.text.endswith(".") for s in segs)
    assert len(segs) == 3                                               # 30 x 15 chars, 13 per segment


def test_abbreviations_initials_and_numbers_do_not_end_sentences():
    text = ("Mr. Smith met Dr. Jones in St. Louis. They saw e.g. apples, i.e. fruit. "
            "J. R. R. Tolkien wrote it. See Fig. 3 and No. 5 please. The U.S. Army came. "
            "It was approx. five km. It cost 3.14 dollars. Version 2.0.1 shipped.")
    assert sentences(text) == [
        "Mr. Smith met Dr. Jones in St. Louis.", "They saw e.g. apples, i.e. fruit.",
        "J. R. R. Tolkien wrote it.", "See Fig. 3 and No. 5 please.", "The U.S. Army came.",
        "It was approx. five km.", "It cost 3.14 dollars.", "Version 2.0.1 shipped."]


def test_ellipsis_ends_a_sentence_only_before_a_capital():
    assert sentences("Wait... what happened? He paused... Then he left… quietly. Done…") == [
        "Wait... what happened?", "He paused...", "Then he left… quietly.", "Done…"]


def test_quotes_and_brackets_stay_with_their_sentence():
    assert sentences('"Stop!" she said. He stopped (finally.) \'Good.\' Then "Why?" he asked.') == [
        '"Stop!" she said.', 'He stopped (finally.)', "'Good.'", 'Then "Why?" he asked.']
    assert sentences("Yahoo!com is a site. Really?!Yes. The site www.example.org is one.") == [
        "Yahoo!com is a site.", "Really?!Yes.", "The site www.example.org is one."]


def test_chinese_sentence_ends_and_fullwidth_closers():
    text = "他说：“你好。”我们走吧！真的吗？是的；走了……天黑了。（注意。）「好。」最后"
    assert sentences(text) == ["他说：“你好。”", "我们走吧！", "真的吗？", "是的；", "走了……",
                               "天黑了。", "（注意。）", "「好。」", "最后"]


def test_mixed_english_and_chinese():
    text = "Hello.你好。I use Python 3.11 every day!我很喜欢。OK? 好的"
    assert sentences(text) == ["Hello.", "你好。", "I use Python 3.11 every day!", "我很喜欢。", "OK?", "好的"]
    assert spoken("MiMo 是\n一个 model") == "MiMo 是一个 model"      # a newline between CJK joins them


def test_chinese_segments_are_measured_by_weight():
    text = "今天的天气很好，我们去公园散步。" * 20                          # 16 CJK characters a sentence
    segs = split_text(text)
    assert_valid(text, segs)
    assert [len(s.text) for s in segs] == [80, 80, 80, 80]            # 5 sentences = 200 weighted


def test_paragraphs_are_never_merged_and_end_with_a_flag():
    text = "First para one. First para two.\r\n\r\nSecond.\n   \n\n\tThird para.\n"
    segs = split_text(text)
    assert_valid(text, segs)
    assert [(s.text, s.paragraph_end) for s in segs] == [
        ("First para one. First para two.", True), ("Second.", True), ("Third para.", True)]
    two = split_text("A. B. C.\n\nD.")
    assert [(s.text, s.paragraph_end) for s in two] == [("A. B. C.", True), ("D.", True)]


def test_short_lines_break_long_lines_wrap():
    heading = "Chapter One\nIt was a dark night. The rain fell."
    assert [(s.text, s.paragraph_end) for s in split_text(heading)] == [
        ("Chapter One", False), ("It was a dark night. The rain fell.", True)]
    verse = "Roses are red\nViolets are blue\nSugar is sweet"
    assert texts(verse) == ["Roses are red", "Violets are blue", "Sugar is sweet"]
    items = "- apples and pears and plums and a very long list of fruits to buy\n- milk"
    assert texts(items, min_chars=1) == ["- apples and pears and plums and a very long list of fruits to buy", "- milk"]
    wrapped = ("This paragraph was wrapped by an editor at seventy-two columns, so\n"
               "its newlines are only spaces and must not break the sentence in two.")
    assert texts(wrapped) == [" ".join(wrapped.split())]


def test_a_long_sentence_is_cut_at_clauses_then_spaces():
    clauses = ", ".join(f"clause number {i} goes on a little" for i in range(20)) + "."
    segs = split_text(clauses, target_chars=100, max_chars=150, min_chars=20)
    assert_valid(clauses, segs, 150)
    assert len(segs) > 1 and all(s.text.endswith((",", ".")) for s in segs)
    words = " ".join(f"word{i}" for i in range(200)) + "."
    segs = split_text(words, target_chars=100, max_chars=150, min_chars=20)
    assert_valid(words, segs, 150)
    assert all(80 < weighted_length(s.text) <= 100 for s in segs[:-1])


def test_a_cjk_run_without_punctuation_is_hard_cut_into_equal_pieces():
    text = "中" * 400                                                      # 1000 weighted
    segs = split_text(text)
    assert_valid(text, segs)
    assert [len(s.text) for s in segs] == [100, 100, 100, 100]         # ceil(1000 / 300) = 4 pieces
    assert [len(s.text) for s in split_text("中" * 121)] == [60, 61]


def test_short_segments_join_a_neighbour():
    text = "A" * 150 + ". " + "B" * 150 + ". Yes."
    assert [len(s) for s in texts(text)] == [151, 156]                   # "Yes." joins the second
    assert texts("Hi. " + "A" * 150 + ".") == ["Hi. " + "A" * 150 + "."]
    assert texts("Hi.") == ["Hi."]


def test_empty_and_blank_texts_give_no_segments():
    assert split_text("") == [] and split_text(" \n\n\t ") == []
    with pytest.raises(PromptError):
        split_text(b"bytes")
    with pytest.raises(ValueError):
        split_text("x", target_chars=500, max_chars=300)


def test_a_20000_character_chapter_is_split_fast_and_validly():
    rng = random.Random(0)
    pool = ["The old man walked slowly down the road.", "Mr. Brown said, \"It is 3.5 miles.\"",
            "Was it worth it?", "She waited... Nobody came.", "他看着远方，心里想着家。",
            "天黑了！", "A long sentence, with clauses, and more clauses; and a colon: like this one, "
            "which keeps going on and on, past any sensible length, until at last it ends, "
            "somewhere far beyond where it should have stopped, and then it goes on a bit more."]
    paras = [" ".join(rng.choice(pool) for _ in range(rng.randint(1, 12))) for _ in range(200)]
    text = "\n\n".join(paras)[:20_000]
    t0 = time.perf_counter()
    segs = split_text(text)
    elapsed = time.perf_counter() - t0
    assert_valid(text, segs)
    assert elapsed < 1.0
    assert sum(s.paragraph_end for s in segs) == text.count("\n\n") + 1
    assert sum(weighted_length(s.text) < MIN_CHARS for s in segs) < len(segs) // 4
    assert split_text(text) == segs                                     # deterministic


def test_sentence_ends_are_positions_in_the_text():
    text = "Go. Be! 好。C"
    assert sentence_ends(text, 0, len(text)) == [3, 7, 10]


@pytest.mark.parametrize("value, message", [
    (None, "no text given"), (b"hi", "not bytes"), (3, "got int"), ("", "text is empty"),
    (" \n\t", "text is empty"), ("a\x00b.", r"U\+0000 at character 2")])
def test_check_long_text_refuses_bad_values(value, message):
    with pytest.raises(PromptError, match=message) as info:
        check_long_text(value)
    assert "\n" not in str(info.value)


def test_check_long_text_limits():
    assert check_long_text("Fine.\f\n") == "Fine.\f\n"
    with pytest.raises(InputTooLongError, match="text has 11 characters; the limit is 10"):
        check_long_text("Hello world", limit=10)
    ok = ("Word " * 999 + "end. ") * 3                                   # 5,000-character sentences
    assert check_long_text(ok, limit=len(ok))
    blob = "Intro. " + "X" * (MAX_RUN_CHARS + 1)
    with pytest.raises(PromptError, match="no sentence end in the 5,000 characters starting at character 8;"):
        check_long_text(blob)
    assert check_long_text("Intro.\n" + ("x" * 4000 + "\n") * 3)       # newlines count as breaks


def test_read_text_file_decodes_utf8_and_boms(tmp_path):
    text = "Hello, 世界.\r\nLine two."
    cases = {"plain.txt": text.encode(), "bom8.txt": codecs.BOM_UTF8 + text.encode(),
             "le16.txt": text.encode("utf-16"), "be16.txt": codecs.BOM_UTF16_BE + text.encode("utf-16-be"),
             "le32.txt": text.encode("utf-32")}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        assert read_text_file(tmp_path / name) == text, name


@pytest.mark.parametrize("data, message", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r"not a text file \(it contains NUL bytes\)"),
    ("caf\xe9 cr\xe8me".encode("latin-1"), r"not a text file: not UTF-8 \(byte 0xe9 at offset 3\)"),
    (bytes(range(1, 9)) * 20 + b"ok", "not a text file \\(99% of its characters are not printable\\)"),
    (codecs.BOM_UTF16_LE + b"\x00\xd8", "not a text file: not UTF-16"),
    (b"", "text file is empty"), (b" \n ", "text file is empty")])
def test_read_text_file_refuses_non_text(tmp_path, data, message):
    path = tmp_path / "input.bin"
    path.write_bytes(data)
    with pytest.raises(PromptError, match=message) as info:
        read_text_file(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_read_text_file_missing_dir_and_too_big(tmp_path):
    with pytest.raises(PromptError, match="text file not found"):
        read_text_file(tmp_path / "nope.txt")
    with pytest.raises(PromptError, match="not a file"):
        read_text_file(tmp_path)
    (tmp_path / "big.txt").write_text("x" * 100)
    with pytest.raises(InputTooLongError, match="is 100 bytes; the limit is 50"):
        read_text_file(tmp_path / "big.txt", max_bytes=50)


def test_docstring_examples():
    import doctest

    from mimo_core.longform import sentences, split, textin
    for module in (sentences, split, textin):
        assert doctest.testmod(module).failed == 0, module.__name__


def test_random_texts_always_give_valid_segments():
    pieces = list("ab Ab. .,;:!?…\"'”)(\n\t 中文。，！？；、「」1 3.") + ["Mr. ", "e.g. ", "...", "\n\n", "\r\n", "- "]
    rng = random.Random(1)
    for _ in range(120):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 300)))
        for sizes in ({}, dict(target_chars=10, max_chars=15, min_chars=3), dict(target_chars=3, max_chars=3, min_chars=1)):
            assert_valid(text, split_text(text, **sizes), sizes.get("max_chars", MAX_CHARS))
