"""Subtitles and transcripts: SRT and WebVTT parsed back by the test's own readers, OpenAI's
verbose_json shape, plain-text paragraphs, wrapping, and the checks on cue times."""

import json
import re

import pytest

from mimo_core.subtitles import (LINE_CHARS, Cue, check_cues, compression_ratio, timestamp, to_srt,
                                 to_text, to_verbose_json, to_vtt, wrap)

LONG = ("This is a long cue of about thirty seconds, the kind a long recording gives when someone "
        "speaks without pausing, and it must stay one cue but be wrapped into readable lines.")
CUES = [
    Cue(0.0, 1.5004, "Hello there.", "Alice"),
    Cue(1.5004, 4.25, "Hi! Fish & chips <today>?", "Bob"),
    Cue(5.0, 35.0, LONG),
    Cue(36.0, 39.9996, "今天天气很好，我们去公园散步，然后回家吃饭，晚上看电影。", "李雷"),
    Cue(3725.1234, 3726.0, "Late --> very late."),
]
SRT_TIME = re.compile(r"^(\d{2,}):(\d{2}):(\d{2}),(\d{3}) --> (\d{2,}):(\d{2}):(\d{2}),(\d{3})$")
VTT_TIME = re.compile(r"^(\d{2,}):(\d{2}):(\d{2})\.(\d{3}) --> (\d{2,}):(\d{2}):(\d{2})\.(\d{3})$")


def seconds(h, m, s, ms):
    assert int(m) < 60 and int(s) < 60
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def parse_srt(text):
    """[(start, end, [lines])] from SubRip text, checking its structure on the way."""
    assert text.endswith("\n") and not text.endswith("\n\n\n")
    cues = []
    for n, block in enumerate(text.rstrip("\n").split("\n\n"), 1):
        index, timing, *lines = block.split("\n")
        assert index == str(n)
        m = SRT_TIME.match(timing)
        assert m, timing
        assert lines and all(line.strip() and "-->" not in line for line in lines)
        cues.append((seconds(*m.groups()[:4]), seconds(*m.groups()[4:]), lines))
    return cues


def parse_vtt(text):
    """[(start, end, speaker, [lines])] from WebVTT text (voice spans and escapes undone)."""
    header, *blocks = text.rstrip("\n").split("\n\n")
    assert header == "WEBVTT"
    cues = []
    for block in blocks:
        timing, *lines = block.split("\n")
        m = VTT_TIME.match(timing)
        assert m, timing
        assert lines and all(line.strip() and "-->" not in line for line in lines)
        speaker = None
        v = re.match(r"<v ([^>]+)>", lines[0])
        if v:
            speaker, lines[0] = v.group(1), lines[0][v.end():]
        assert not any(re.search(r"<|>|&(?!amp;|lt;|gt;)", line) for line in lines)
        lines = [line.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") for line in lines]
        cues.append((seconds(*m.groups()[:4]), seconds(*m.groups()[4:]), speaker, lines))
    return cues


def unwrap(lines):
    """Undo wrap(): a space between lines, none where a CJK line meets a CJK line."""
    out = lines[0]
    for line in lines[1:]:
        out += ("" if ord(out[-1]) > 0x2E80 and ord(line[0]) > 0x2E80 else " ") + line
    return out


def columns(line):
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in line)


def test_srt_parses_back_to_the_cues():
    parsed = parse_srt(to_srt(CUES))
    assert len(parsed) == len(CUES)
    for cue, (start, end, lines) in zip(CUES, parsed):
        assert abs(start - cue.start_s) <= 0.0005 and abs(end - cue.end_s) <= 0.0005
        expected = (f"{cue.speaker}: " if cue.speaker else "") + cue.text.replace("-->", "->")
        assert unwrap(lines) == expected
        assert all(columns(line) <= LINE_CHARS + 2 for line in lines)
    assert parsed[2][1] - parsed[2][0] == 30.0 and len(parsed[2][2]) == 5     # one cue, wrapped


def test_vtt_parses_back_to_the_cues():
    text = to_vtt(CUES)
    assert text.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\n<v Alice>Hello there.\n")
    assert "<v Bob>Hi! Fish &amp; chips &lt;today&gt;?" in text
    parsed = parse_vtt(text)
    assert len(parsed) == len(CUES)
    for cue, (start, end, speaker, lines) in zip(CUES, parsed):
        assert abs(start - cue.start_s) <= 0.0005 and abs(end - cue.end_s) <= 0.0005
        assert speaker == cue.speaker and unwrap(lines) == cue.text.replace("-->", "->")


def test_timestamps():
    assert timestamp(0) == "00:00:00,000" and timestamp(59.9995) == "00:01:00,000"
    assert timestamp(3725.1234) == "01:02:05,123" and timestamp(3725.1234, ".") == "01:02:05.123"
    assert timestamp(360_000) == "100:00:00,000"


def test_wrapping_rules():
    lines = wrap(LONG)
    assert all(len(line) <= LINE_CHARS for line in lines) and " ".join(lines) == LONG
    assert wrap("a " + "x" * 60 + " b", 20) == ["a", "x" * 60, "b"]        # words are not broken
    cjk = wrap("今天天气很好，我们去公园散步，然后回家吃饭，晚上看电影。")
    assert "".join(cjk) == "今天天气很好，我们去公园散步，然后回家吃饭，晚上看电影。"
    assert all(columns(line) <= LINE_CHARS + 2 for line in cjk)
    assert not any(line[0] in "，。" for line in cjk)
    assert wrap("你好，world 和 MiMo!") == ["你好，world 和 MiMo!"]
    assert wrap("") == [] and wrap("a-->b") == ["a->b"]


def test_blank_cues_are_left_out_and_numbering_stays_consecutive():
    cues = [Cue(0, 1, "One."), Cue(1, 2, "  "), Cue(2, 3, "Three.")]
    parsed = parse_srt(to_srt(cues))
    assert [unwrap(lines) for _, _, lines in parsed] == ["One.", "Three."]
    assert to_srt([]) == "" and to_vtt([]) == "WEBVTT\n" and to_text([]) == ""
    assert [s["id"] for s in to_verbose_json(cues, language="english", duration_s=3)["segments"]] == [0, 1]


@pytest.mark.parametrize("cues, message", [
    ([Cue(0, 2, "a"), Cue(1.5, 3, "b")], "cue 1 starts at 1.5 s, before the previous cue ends"),
    ([Cue(2, 2, "a")], "cue 0: needs 0 <= start < end"),
    ([Cue(3, 2, "a")], "cue 0: needs 0 <= start < end"),
    ([Cue(-1, 2, "a")], "cue 0: needs 0 <= start < end"),
    ([Cue(0.0001, 0.0004, "a")], "in whole ms"),
    ([Cue(0, float("nan"), "a")], "cue 0: times must be finite"),
])
def test_bad_times_are_refused(cues, message):
    for render in (to_srt, to_vtt, to_text, check_cues):
        with pytest.raises(ValueError, match=re.escape(message)):
            render(cues)


def test_touching_cues_are_fine():
    assert len(check_cues([Cue(0, 1.0004, "a"), Cue(1.0001, 2, "b")])) == 2   # both 1000 ms


def test_verbose_json_has_openai_shape():
    body = to_verbose_json(CUES, language="english", duration_s=3726.5, tokenize=lambda t: [len(t)])
    assert list(body) == ["task", "language", "duration", "text", "segments"]
    assert body["task"] == "transcribe" and body["language"] == "english" and body["duration"] == 3726.5
    assert body["text"].startswith("Hello there. Hi! Fish") and "看电影。 Late -> very late." not in body["text"]
    seg = body["segments"][1]
    assert list(seg) == ["id", "seek", "start", "end", "text", "tokens", "temperature", "avg_logprob",
                         "compression_ratio", "no_speech_prob"]
    assert (seg["id"], seg["seek"], seg["start"], seg["end"]) == (1, 150, 1.5, 4.25)
    assert seg["tokens"] == [len(seg["text"])] and seg["temperature"] == 0.0
    assert seg["avg_logprob"] == 0.0 and seg["no_speech_prob"] == 0.0
    assert body["segments"][4]["seek"] == 372512
    assert json.loads(json.dumps(body)) == body
    assert to_verbose_json(CUES[:1], language="english", duration_s=2, text="X")["text"] == "X"
    types = pytest.importorskip("openai.types.audio")
    parsed = types.TranscriptionVerbose.model_validate(body)
    assert parsed.segments[2].end == 35.0 and parsed.language == "english"
    with pytest.raises(ValueError, match="language"):
        to_verbose_json(CUES, language="", duration_s=1)


def test_compression_ratio_follows_whisper():
    repetitive = "la " * 200
    assert compression_ratio(repetitive) > 2.4                          # Whisper's "failed" threshold
    assert compression_ratio("Hello there.") < 1.0 and compression_ratio("") == 0.0


def test_text_transcript_paragraphs():
    cues = [Cue(0, 1, "Hi.", "A"), Cue(1, 2, "How are you?", "A"), Cue(2.5, 3, "Fine.", "B"),
            Cue(6, 7, "Later on.", "B"), Cue(7, 8, "你好。"), Cue(8, 9, "世界。")]
    assert to_text(cues) == "A: Hi. How are you?\n\nB: Fine.\n\nB: Later on.\n\n你好。世界。\n"


def test_docstring_examples():
    import doctest

    from mimo_core import subtitles
    assert doctest.testmod(subtitles).failed == 0
