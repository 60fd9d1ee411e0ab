"""The task registry: one declaration per task, from which dispatch and the CLI derive; and the
first-turn-only options of spoken dialogue (refused on a later turn, never ignored)."""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import pytest

from mimo_core.cli.tasks import build_request, register
from mimo_core.constants import SAMPLE_RATE
from mimo_core.errors import PromptError
from mimo_core.tasks import (TASKS, ASRRequest, ChatRequest, Conversation, DialogueRequest, GenerationOptions,
                             MimoAudio, S2TRequest, Turn, spec_of, task_spec)
from mimo_core.tasks import registry as r


def test_each_request_type_has_one_spec_and_dispatch_is_by_type():
    assert len({spec.request for spec in TASKS.values()}) == len(TASKS)
    for name, spec in TASKS.items():
        request_fields = {f.name for f in dataclasses.fields(spec.request)} - {"options"}
        assert set(spec.input_names) == request_fields, name
    assert spec_of(ASRRequest(audio="a.wav")) is TASKS["asr"]
    with pytest.raises(PromptError, match="not a task request"):
        spec_of("asr")
    with pytest.raises(PromptError, match="unknown task 'nope'"):
        task_spec("nope")


@pytest.fixture(scope="module")
def parser():
    p = argparse.ArgumentParser()
    register(p.add_subparsers(dest="command"))
    return p


def test_cli_has_every_field_of_every_task(parser):
    for spec in TASKS.values():
        actions = parser._subparsers._group_actions[0].choices[spec.name]._actions
        dests = {a.dest for a in actions}
        assert set(spec.input_names) <= dests, spec.name
        assert ("out" in dests) == spec.speaks and ("save_conversation" in dests) == spec.conversation


@pytest.mark.parametrize("argv,expected", [
    (["s2t", "q.wav", "--thinking", "--seed", "4"],
     S2TRequest(audio="q.wav", thinking=True, options=GenerationOptions(seed=4))),
    (["chat", "--text", "hi", "--thinking"], ChatRequest(text="hi", thinking=True)),
    (["chat", "--text", "hi"], ChatRequest(text="hi")),
    (["asr", "a.wav", "--language", "zh"], ASRRequest(audio="a.wav", language="zh")),
    (["dialogue", "q.wav", "--system-prompt", ""], DialogueRequest(audio="q.wav", system_prompt="")),
])
def test_cli_builds_the_request_from_the_fields(parser, argv, expected):
    assert build_request(parser.parse_args(argv)) == expected


# ------------------------------------------------------------------------ dialogue options
@pytest.fixture(scope="module")
def first(mimo):
    t = np.arange(int(0.6 * SAMPLE_RATE)) / SAMPLE_RATE
    clip = ((0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), SAMPLE_RATE)
    opts = GenerationOptions(seed=1, max_new_groups=3)
    return clip, opts, mimo.run(DialogueRequest(audio=clip, system_prompt="Be brief.", options=opts))


def test_later_turn_refuses_a_new_voice_or_system_prompt(mimo, first):
    clip, opts, result = first
    conv = result.conversation
    assert conv.system_prompt == "Be brief."
    with pytest.raises(PromptError, match="voice prompt applies from the first turn"):
        mimo.prepare(DialogueRequest(audio=clip, conversation=conv, voice_prompt=clip, options=opts))
    with pytest.raises(PromptError, match="system prompt applies from the first turn"):
        mimo.prepare(DialogueRequest(audio=clip, conversation=conv, system_prompt="Be long.", options=opts))
    # the same system prompt (what a UI sends on every turn), or none, continues the conversation
    for same in ("Be brief.", None):
        prepared, _, prompt = mimo.prepare(DialogueRequest(audio=clip, conversation=conv, system_prompt=same))
        np.testing.assert_array_equal(prompt[:, :conv.tokens.shape[1]].numpy(), conv.tokens)


def test_rebuilt_conversation_applies_a_new_system_prompt(mimo, first):
    clip, opts, result = first
    display_only = Conversation(task="dialogue", turns=result.conversation.turns,
                                system_prompt="Be brief.")
    a = mimo.prepare(DialogueRequest(audio=clip, conversation=display_only, system_prompt="Be long."))
    b = mimo.prepare(DialogueRequest(audio=clip, conversation=display_only))
    assert a[0].system_prompt == "Be long." and b[0].system_prompt == "Be brief."
    assert a[2].shape != b[2].shape or not np.array_equal(a[2].numpy(), b[2].numpy())


def test_every_spec_plans_its_own_request_type():
    from mimo_core.prompts import PromptBuilder
    from mimo_core.tasks import planning
    assert set(planning.PLANNERS) == {spec.request for spec in TASKS.values()}
    assert all(callable(planner) for planner in planning.PLANNERS.values())
    # a plan names the builder method itself (go-to-definition reaches it), not a string
    prepared = planning.prepare(ChatRequest(text="hi"), planning.Limits())
    assert prepared.build is PromptBuilder.text_dialogue
    assert TASKS["continue"].min_new_groups == r.CONTINUE_MIN_NEW_GROUPS


def test_readme_task_table_is_the_generated_one():
    from pathlib import Path

    from mimo_core.tasks.table import END, START, markdown

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    shown = readme[readme.index(START):readme.index(END) + len(END)]
    assert shown == markdown(), "README task table is stale: run python -m mimo_core.tasks.table"


def test_building_the_cli_parser_imports_no_torch():
    """--help stays fast: the registry, the task flags and the engine flags are torch-free."""
    import subprocess
    import sys

    code = ("import sys, run_mimo_audio; run_mimo_audio.build_parser(); "
            "print('torch' in sys.modules, 'gradio' in sys.modules)")
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["False", "False"], out.stderr
