"""Per-task defaults (docs/FORMAT.md section 7) as declared in the task registry, option merging,
lengths and limits: pure, no model."""

from __future__ import annotations

import math

import pytest

from mimo_core.constants import MAX_CONTEXT_GROUPS
from mimo_core.errors import InputTooLongError, PromptError
from mimo_core.resolve import Role
from mimo_core.tasks import GenerationOptions, Limits
from mimo_core.sampler_config import GREEDY, SamplerConfig as Sampling, SamplerOverride
from mimo_core.tasks.defaults import groups_for_seconds, resolve_options, resolve_settings
from mimo_core.tasks.limits import check_context, check_duration, check_options, check_text
from mimo_core.tasks.registry import CONTINUE_MIN_NEW_GROUPS, TASKS

NUCLEUS_AUDIO = Sampling(temperature=0.9, top_p=0.95)
CONTEXT = {"context_groups": MAX_CONTEXT_GROUPS}      # the release's context (the tiny model's too)


@pytest.mark.parametrize("task,text,stop,role,speaks", [
    ("asr", GREEDY, {"endoftext", "im_end"}, Role.INSTRUCT, False),
    ("tts", Sampling(temperature=0.6, top_p=1.0), {"endoftext", "eostm", "im_end"}, Role.INSTRUCT, True),
    ("dialogue", Sampling(temperature=0.6, top_p=0.95), {"endoftext", "eostm", "im_end"}, Role.INSTRUCT, True),
    ("s2t", Sampling(temperature=0.6, top_p=0.95), {"endoftext", "im_end"}, Role.INSTRUCT, False),
    ("understand", Sampling(temperature=0.3, top_p=0.95), {"endoftext", "im_end"}, Role.INSTRUCT, False),
    ("chat", Sampling(temperature=0.4, top_p=0.95), {"endoftext", "im_end"}, Role.INSTRUCT, False),
    ("s2s", GREEDY, {"endoftext", "eostm"}, Role.BASE, True),
])
def test_format_section_7_table(task, text, stop, role, speaks):
    d = TASKS[task]
    assert (d.text, d.audio, set(d.stop), d.role, d.speaks) == (text, NUCLEUS_AUDIO, stop, role, speaks)
    assert d.min_new_groups == 0


def test_continuation_defaults_are_pinned():
    """No reference row: forward() without a task name, i.e. the reference default samplers
    (top-k 50), stop on <|eosp|> / eos, Base model, at least 8 groups (the golden harness's)."""
    d = TASKS["continue"]
    assert d.text == Sampling(temperature=0.6, top_k=50, top_p=0.95)
    assert d.audio == Sampling(temperature=0.9, top_k=50, top_p=0.95)
    assert set(d.stop) == {"eosp", "endoftext"} and d.role == Role.BASE and d.speaks
    assert d.min_new_groups == CONTINUE_MIN_NEW_GROUPS == 8


@pytest.mark.parametrize("seconds", [0.1, 0.16, 1.0, 2.5, 10.0, 33.3])
def test_groups_for_seconds_is_ceil_of_6_25_per_second(seconds):
    assert groups_for_seconds(seconds) == math.ceil(seconds * 6.25)


def test_continue_length_from_duration_with_minimum():
    opts = resolve_options(TASKS["continue"], GenerationOptions(), prompt_groups=20,
                           requested_groups=groups_for_seconds(2.0), **CONTEXT)
    assert (opts.max_new_groups, opts.min_new_groups) == (13, 8)
    short = resolve_options(TASKS["continue"], GenerationOptions(), 20, groups_for_seconds(0.5), **CONTEXT)
    assert (short.max_new_groups, short.min_new_groups) == (4, 4)          # minimum capped by the max
    explicit = resolve_options(TASKS["continue"], GenerationOptions(max_new_groups=24), 20, 13, **CONTEXT)
    assert explicit.max_new_groups == 24                                     # an explicit max wins


def test_overrides_and_greedy():
    opts = resolve_options(TASKS["tts"], GenerationOptions(text=SamplerOverride(temperature=0.2, top_k=7), audio=SamplerOverride(top_k=0), seed=5), 10, **CONTEXT)
    assert opts.text == Sampling(temperature=0.2, top_k=7, top_p=1.0)
    assert opts.audio == NUCLEUS_AUDIO                                       # top-k 0 = off
    assert opts.seed == 5 and opts.max_new_groups == MAX_CONTEXT_GROUPS - 10
    greedy = resolve_options(TASKS["dialogue"], GenerationOptions(greedy=True), 10, **CONTEXT)
    assert greedy.text == GREEDY and greedy.audio == GREEDY
    sampled_asr = resolve_options(TASKS["asr"], GenerationOptions(text=SamplerOverride(temperature=0.7)), 10, **CONTEXT)
    assert not sampled_asr.text.greedy and sampled_asr.text.temperature == 0.7


def test_max_new_groups_capped_by_context():
    assert resolve_options(TASKS["chat"], GenerationOptions(max_new_groups=10**6), 8000, **CONTEXT).max_new_groups == MAX_CONTEXT_GROUPS - 8000


def test_one_sampler_greedy():
    """text_greedy / audio_greedy (an API's temperature 0) make only that sampler argmax."""
    asr_like = resolve_options(TASKS["tts"], GenerationOptions(text=SamplerOverride(greedy=True), audio=SamplerOverride(top_p=0.5)), 10, **CONTEXT)
    assert asr_like.text == GREEDY and asr_like.audio == Sampling(temperature=0.9, top_p=0.5)
    audio_only = resolve_options(TASKS["chat"], GenerationOptions(audio=SamplerOverride(greedy=True), text=SamplerOverride(top_k=3)), 10, **CONTEXT)
    assert audio_only.audio == GREEDY and audio_only.text == Sampling(temperature=0.4, top_k=3, top_p=0.95)


def test_settings_before_the_prompt_and_capped_after_it():
    """resolve_settings (what a remote engine is sent) leaves the length open unless asked;
    resolve_options is the same settings with the context room as the cap."""
    cont = TASKS["continue"]
    open_ended = resolve_settings(TASKS["chat"], GenerationOptions(seed=4))
    assert (open_ended.max_new_groups, open_ended.min_new_groups, open_ended.seed) == (None, 0, 4)
    short = resolve_settings(cont, GenerationOptions(), requested=groups_for_seconds(0.5))
    assert (short.max_new_groups, short.min_new_groups) == (4, 4)
    cases = ((GenerationOptions(), 13, 20), (GenerationOptions(max_new_groups=10**5), None, 8000),
             (GenerationOptions(min_new_groups=50), None, MAX_CONTEXT_GROUPS - 20))
    for options, requested, prompt in cases:
        wanted, got = resolve_settings(cont, options, requested), resolve_options(cont, options, prompt, requested, **CONTEXT)
        room = MAX_CONTEXT_GROUPS - prompt
        cap = room if wanted.max_new_groups is None else min(wanted.max_new_groups, room)
        assert (got.text, got.audio, got.seed) == (wanted.text, wanted.audio, wanted.seed)
        assert (got.max_new_groups, got.min_new_groups) == (cap, min(wanted.min_new_groups, cap))


@pytest.mark.parametrize("options", [
    GenerationOptions(max_new_groups=0), GenerationOptions(min_new_groups=-1),
    GenerationOptions(text=SamplerOverride(temperature=0.0)), GenerationOptions(audio=SamplerOverride(top_p=1.5)),
    GenerationOptions(text=SamplerOverride(top_k=-2)),
])
def test_bad_options_rejected(options):
    with pytest.raises(PromptError):
        check_options(options)


def test_text_and_duration_limits():
    limits = Limits(max_text_chars=5, max_duration_s=3.0)
    assert check_text("hi", "text", limits) == "hi"
    with pytest.raises(PromptError, match="text is empty"):
        check_text("  ", "text", limits)
    with pytest.raises(InputTooLongError, match="6 characters; the limit is 5"):
        check_text("abcdef", "text", limits)
    assert check_text(None, "instruct", limits, required=False) == ""
    with pytest.raises(InputTooLongError):
        check_duration(3.5, limits)
    with pytest.raises(PromptError):
        check_duration(0, limits)
    with pytest.raises(InputTooLongError):
        check_context(MAX_CONTEXT_GROUPS, MAX_CONTEXT_GROUPS)
