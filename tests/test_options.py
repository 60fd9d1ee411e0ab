"""The one options table (mimo_core/sampler_config.py ``OPTIONS``) and every surface that reads
it: each option reaches GenerationOptions from its CLI flag, its HTTP field and its web input,
travels to a remote engine in its wire field, and is checked once against its bounds. The
cases are drawn from the table, so a new option is covered without editing this file."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from mimo_core.cli.common import add_generation_args, options_from_args
from mimo_core.errors import PromptError
from mimo_core.sampler_config import (BY_NAME, GREEDY, OPTIONS, SAMPLER_FIELDS, OptionError, SamplerConfig,
                                      SamplerOverride, check_options)
from mimo_core.tasks import GenerationOptions
from mimo_core.tasks.defaults import resolve_settings
from mimo_core.tasks.registry import TASKS
from mimo_core.tasks.table import OPTIONS_END, OPTIONS_START, options_markdown

BOUNDED = [o for o in OPTIONS if o.bounds is not None]


def valid(option):
    """A value inside the option's bounds, other than any task's default."""
    if option.kind is bool:
        return True
    b = option.bounds
    if option.kind is int:
        return int(b.low) + 3
    return b.low + 0.5 if b.high is None else (b.low + b.high) / 2


def outside(option) -> list:
    """Values just outside the option's bounds."""
    b = option.bounds
    out = [b.low if b.open_low else b.low - 1]
    if b.high is not None:
        out.append(b.high + 1)
    return out


# ------------------------------------------------------------------------------- the types
def test_from_flat_is_the_nested_value():
    flat = GenerationOptions.from_flat(seed=3, text_temperature=0.7, audio_top_k=0, audio_greedy=True,
                                       text_top_p=None)
    assert flat == GenerationOptions(seed=3, text=SamplerOverride(temperature=0.7),
                                     audio=SamplerOverride(top_k=0, greedy=True))
    with pytest.raises(TypeError, match="unknown generation options: colour"):
        GenerationOptions.from_flat(colour="red")
    for option in OPTIONS:
        assert option.get(GenerationOptions.from_flat(**{option.name: valid(option)})) == valid(option)


def test_override_over_a_base():
    base = SamplerConfig(temperature=0.6, top_k=50, top_p=0.95)
    assert SamplerOverride().over(base) is base
    assert SamplerOverride().over(GREEDY) is GREEDY
    assert SamplerOverride(top_k=0).over(base) == SamplerConfig(temperature=0.6, top_p=0.95)   # 0 = off
    assert SamplerOverride(top_p=0.5).over(GREEDY) == SamplerConfig(temperature=1.0, top_p=0.5)
    assert SamplerOverride(greedy=True, temperature=2.0).over(base) == GREEDY
    both = GenerationOptions(greedy=True, text=SamplerOverride(temperature=0.3))
    assert both.sampler("text") == SamplerOverride(temperature=0.3, greedy=True)
    assert both.sampler("audio") == SamplerOverride(greedy=True)


# --------------------------------------------------------------------------- the one check
@pytest.mark.parametrize("option", BOUNDED, ids=lambda o: o.name)
def test_each_bound_is_checked_once_with_the_option_named(option):
    check_options(GenerationOptions.from_flat(**{option.name: valid(option)}))
    for value in outside(option):
        with pytest.raises(OptionError) as err:
            check_options(GenerationOptions.from_flat(**{option.name: value}))
        assert err.value.name == option.name and option.what in str(err.value)


def test_sampler_config_holds_itself_to_the_same_bounds():
    for field in SAMPLER_FIELDS:
        for value in outside(BY_NAME[f"text_{field.name}"]):
            with pytest.raises(PromptError):
                SamplerConfig(**{field.name: value})
    SamplerConfig(greedy=True, temperature=0.0)          # greedy needs no temperature
    with pytest.raises(PromptError):
        SamplerConfig(top_k=0)                          # off is None in a whole sampler


# ------------------------------------------------------------------------------ the surfaces
def test_cli_flags_come_from_the_table():
    parser = argparse.ArgumentParser()
    add_generation_args(parser)
    flagged = [o for o in OPTIONS if o.cli is not None]
    assert {a.dest for a in parser._actions} >= {o.name for o in flagged}
    for option in flagged:
        argv = [option.cli] if option.kind is bool else [option.cli, str(valid(option))]
        assert option.get(options_from_args(parser.parse_args(argv))) == valid(option), option.name
    assert options_from_args(parser.parse_args([])) == GenerationOptions()


def test_http_fields_come_from_the_table():
    params = pytest.importorskip("app.openai_api.params")
    from app.openai_api.errors import ApiError

    for option in (o for o in OPTIONS if o.api):
        for key in option.api:
            assert option.get(params.options({key: valid(option)})) == valid(option), key
        if option.bounds is not None:
            for value in outside(option):
                if option.field is not None and option.field.zero_is_greedy and value == 0:
                    continue                              # temperature 0 is argmax there
                with pytest.raises(ApiError) as err:
                    params.options({option.api[0]: value})
                assert (err.value.status, err.value.param) == (400, option.api[0])
    zero = params.options({"temperature": 0, "audio_temperature": 0})
    assert zero == GenerationOptions(text=SamplerOverride(greedy=True), audio=SamplerOverride(greedy=True))


def test_web_inputs_come_from_the_table():
    from app.inputs import SAMPLER_FIELDS, options_from

    assert SAMPLER_FIELDS == tuple(o.ui for o in OPTIONS if o.ui)
    for option in (o for o in OPTIONS if o.ui and not o.ui_seconds):
        value = valid(option)
        sent = value if option.kind is bool else f" {value} "        # numbers arrive as text
        assert option.get(options_from(**{option.ui: sent})) == value, option.ui
    with pytest.raises(TypeError):
        options_from(colour="red")


@pytest.mark.parametrize("option", [o for o in OPTIONS if o.wire], ids=lambda o: o.name)
def test_remote_clients_send_each_wire_field_and_our_server_reads_it_back(option):
    """What a remote client sends for an option set alone is what our HTTP parser reads into
    the same resolved settings (issue 20: remote engines sample like local ones)."""
    params = pytest.importorskip("app.openai_api.params")
    from mimo_core.remote.sampling import mimo_fields

    spec = TASKS["tts"]
    options = GenerationOptions.from_flat(**{option.name: valid(option)})
    here = resolve_settings(spec, options)
    sent = mimo_fields(here)
    assert sent[option.wire] == valid(option)
    assert resolve_settings(spec, params.options(sent)) == here


def test_readme_options_table_is_current():
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    shown = text[text.index(OPTIONS_START):text.index(OPTIONS_END) + len(OPTIONS_END)]
    assert shown == options_markdown(), "README options table is stale: run python -m mimo_core.tasks.table options"
