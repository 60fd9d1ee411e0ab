"""Multi-speaker scripts: speaker lines, continuations, comments, names and voice maps."""

import pytest

from mimo_core.errors import PromptError
from mimo_core.longform.script import (ScriptLine, check_name, check_speaker_map, is_valid_name,
                                       parse_script, parse_speaker_map, speakers)

SCRIPT = """\
# Episode 1 -- a comment
[Alice] Hello there.
Bob: Hi, Alice! How are
you today?

I am fine.
Alice：你好，
今天很好。
  # an indented comment
[Dr. Jane Smith]
The meeting is at 10:30, see http://example.org for more.
Carol Ann: OK.
"""


def test_parse_a_script():
    lines = parse_script(SCRIPT)
    assert lines == [
        ScriptLine(0, "Alice", "Hello there.", 2),
        ScriptLine(1, "Bob", "Hi, Alice! How are you today?", 3),
        ScriptLine(2, "Bob", "I am fine.", 6),                       # after a blank line: a new utterance
        ScriptLine(3, "Alice", "你好，今天很好。", 7),                  # CJK lines join without a space
        ScriptLine(4, "Dr. Jane Smith", "The meeting is at 10:30, see http://example.org for more.", 11),
        ScriptLine(5, "Carol Ann", "OK.", 12),
    ]
    assert speakers(lines) == ["Alice", "Bob", "Dr. Jane Smith", "Carol Ann"]


def test_colon_lines_that_are_not_speakers_stay_text():
    lines = parse_script("[Ann] Start.\nThe plan for today is this: rest.\nTime: 10:30\n10:30 is late")
    assert [(l.speaker, l.text) for l in lines] == [
        ("Ann", "Start. The plan for today is this: rest."),          # six words: not a name
        ("Time", "10:30 10:30 is late")]                                # one word: a speaker (use [Ann])


def test_windows_line_ends_and_fullwidth_colon():
    lines = parse_script("Alice: one\r\n\r\n李雷：你好\r\n")
    assert [(l.speaker, l.text, l.line_no) for l in lines] == [("Alice", "one", 1), ("李雷", "你好", 3)]


@pytest.mark.parametrize("script, message", [
    ("Hello there.\n[Alice] Hi.", "line 1 has no speaker; start it with [Name] or Name:"),
    ("# only a comment\n\n", "the script has no lines to speak"),
    ("[Alice]\n", "the script has no lines to speak"),
    ("[../etc/passwd] hi", "line 1: invalid speaker name '../etc/passwd'"),
    ("[] hi", "line 1: invalid speaker name ''"),
    ("[" + "a" * 41 + "] hi", "invalid speaker name"),
    (None, "the script must be text, got NoneType")])
def test_script_errors_are_one_line(script, message):
    with pytest.raises(PromptError, match=message.replace("[", r"\[").replace("(", r"\(")) as info:
        parse_script(script)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["Alice", "A", "李雷", "Dr. Who", "o'Brien", "bot_2", "Jean-Luc", "a" * 40])
def test_valid_names(name):
    assert is_valid_name(name) and check_name(name) == name


@pytest.mark.parametrize("name", ["", " Alice", "a" * 41, "../x", "a/b", "a\\b", ".hidden", "x..y",
                                  "_x", "-x", "a\nb", "a\x00b", "C:", "~root", None])
def test_invalid_names(name):
    assert not is_valid_name(name)
    with pytest.raises(PromptError, match="invalid voice name"):
        check_name(name, "voice")


def test_parse_speaker_map():
    assert parse_speaker_map("Alice=voice1,Bob=voice2") == {"Alice": "voice1", "Bob": "voice2"}
    assert parse_speaker_map(" Alice = v1 , , Bob=v2 ,") == {"Alice": "v1", "Bob": "v2"}
    assert parse_speaker_map(["Alice=v1", "Bob=v2,Carol=v3"]) == {"Alice": "v1", "Bob": "v2", "Carol": "v3"}
    assert parse_speaker_map("") == {}


@pytest.mark.parametrize("spec, message", [
    ("Alice", "speaker map entry 'Alice' has no '='; write NAME=VOICE"),
    ("Alice=v1,Alice=v2", "speaker Alice is mapped twice (v1 and v2)"),
    ("=v1", "invalid speaker name ''"),
    ("Alice=../../voices/x", "invalid voice name '../../voices/x'"),
    ("Alice=", "invalid voice name ''")])
def test_speaker_map_errors(spec, message):
    with pytest.raises(PromptError) as info:
        parse_speaker_map(spec)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_check_speaker_map_lists_every_missing_speaker_once():
    lines = parse_script("Alice: a\nBob: b\nCarol: c\nBob: d\nAlice: e")
    check_speaker_map(lines, {"Alice": "v1", "Bob": "v2", "Carol": "v3", "Dave": "v4"})
    with pytest.raises(PromptError) as info:
        check_speaker_map(lines, {"Alice": "v1"})
    assert str(info.value) == "speakers without a voice: Bob, Carol; map them with --map Bob=NAME"
    with pytest.raises(PromptError, match="^speaker without a voice: Carol; map it with --map Carol=NAME$"):
        check_speaker_map(lines, {"Alice": "v1", "Bob": "v2"})
    with pytest.raises(PromptError, match="without a voice: alice"):
        check_speaker_map(parse_script("alice: hi"), {"Alice": "v1"})     # names are case-sensitive


def test_docstring_examples():
    import doctest

    from mimo_core.longform import script
    assert doctest.testmod(script).failed == 0
