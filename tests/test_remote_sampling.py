"""Remote calls carry the task's resolved samplers and lengths (issue 20: remote engines sample
like local ones), for every task of the registry and both protocols.

The expected values are read from the registry's spec here and mapped to each protocol's
fields by this file's own table, independently of mimo_core/remote/sampling.py; the requests
are built from each spec's declared inputs, so a new task is covered without editing this file.
No model, no network: ``to_call`` bodies only, plus our server's parser reading them back.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, fields, replace

import numpy as np
import pytest

from mimo_core.errors import ModelNotConfiguredError
from mimo_core.resolve import Role
from mimo_core.remote import vllm_omni, wire
from mimo_core.sampler_config import GREEDY, SamplerConfig
from mimo_core.tasks import FewShotExample, GenerationOptions
from mimo_core.tasks.defaults import requested_groups, resolve_settings
from mimo_core.tasks.registry import AUDIO, EXAMPLES, TASKS, TEXT

CLIP = (0.2 * np.sin(np.arange(4800) / 10.0)).astype(np.float32)      # 0.2 s at 24 kHz
OVERRIDE = GenerationOptions.from_flat(seed=7, max_new_groups=40, min_new_groups=3, text_temperature=0.8,
                                       text_top_k=20, audio_temperature=1.1, audio_top_p=0.5)
SAMPLER_KEYS = ("temperature", "top_p", "top_k", "audio_temperature", "audio_top_p", "audio_top_k")


def request_for(spec, options: GenerationOptions = GenerationOptions()):
    """A valid request of ``spec``'s type, from the inputs the spec declares."""
    value = {AUDIO: CLIP, TEXT: "Hello there.",
             EXAMPLES: (FewShotExample(input_audio=CLIP, output_audio=CLIP, transcript="hi"),)}
    needed = {f.name for f in fields(spec.request) if f.default is MISSING and f.default_factory is MISSING}
    kwargs = {f.name: value[f.kind] for f in spec.fields if f.required or f.name in needed}
    return spec.request(**kwargs, options=options)


def expected(spec, options: GenerationOptions):
    """(text sampler, audio sampler, max groups or None, min groups, seed) as docs/FORMAT.md
    section 7 reads: the spec's values, each field the options set replacing the spec's."""
    def merged(base: SamplerConfig, t, k, p) -> SamplerConfig:
        if options.greedy:
            return GREEDY
        if t is None and k is None and p is None:
            return base
        return SamplerConfig(temperature=base.temperature if t is None else t,
                             top_k=base.top_k if k is None else (k or None), top_p=base.top_p if p is None else p)

    text = merged(spec.text, options.text.temperature, options.text.top_k, options.text.top_p)
    audio = merged(spec.audio, options.audio.temperature, options.audio.top_k, options.audio.top_p)
    duration = next((f.default for f in spec.fields if f.name == "duration_s"), None)
    max_new = options.max_new_groups
    if max_new is None and duration is not None:
        max_new = math.ceil(duration * 6.25)
    min_new = spec.min_new_groups if options.min_new_groups is None else options.min_new_groups
    if max_new is not None:
        min_new = min(min_new, max_new)
    return text, audio, max_new, min_new, options.seed


def mimo_wire(prefix: str, s: SamplerConfig) -> dict:
    if s.greedy:
        return {f"{prefix}temperature": 0.0}
    return {f"{prefix}temperature": s.temperature, f"{prefix}top_p": s.top_p, f"{prefix}top_k": s.top_k or 0}


def omni_wire(s: SamplerConfig) -> dict:
    if s.greedy:
        return {"temperature": 0.0, "top_p": 1.0, "top_k": -1}
    return {"temperature": s.temperature, "top_p": s.top_p, "top_k": s.top_k or -1}


def lengths(max_new, min_new, seed) -> dict:
    out = {"min_tokens": min_new}
    if max_new is not None:
        out["max_tokens"] = max_new
    if seed is not None:
        out["seed"] = seed
    return out


def sent(call) -> dict:
    """The body's sampling fields (a multipart form's values read back as numbers)."""
    if call.json is not None:
        return call.json
    return {k: (int(v) if k in ("top_k", "audio_top_k", "min_tokens", "max_tokens", "seed") else float(v))
            for k, v in call.form.items() if k in SAMPLER_KEYS + ("min_tokens", "max_tokens", "seed")}


OPTION_CASES = {"defaults": GenerationOptions(), "override": OVERRIDE, "greedy": GenerationOptions(greedy=True)}


@pytest.mark.parametrize("case", OPTION_CASES)
@pytest.mark.parametrize("task", TASKS)
def test_our_protocol_sends_the_resolved_samplers_and_lengths(task, case):
    spec, options = TASKS[task], OPTION_CASES[case]
    text, audio, max_new, min_new, seed = expected(spec, options)
    want = {**mimo_wire("", text), **mimo_wire("audio_", audio), **lengths(max_new, min_new, seed)}
    body = sent(wire.to_call(request_for(spec, options)))
    got = {k: body[k] for k in (*SAMPLER_KEYS, "min_tokens", "max_tokens", "seed") if k in body}
    assert got == want
    assert "greedy" not in body                   # each sampler says it: temperature 0


@pytest.mark.parametrize("case", OPTION_CASES)
@pytest.mark.parametrize("task", TASKS)
def test_vllm_omni_gets_the_resolved_text_sampler_and_lengths(task, case):
    spec, options = TASKS[task], OPTION_CASES[case]
    request = request_for(spec, options)
    if spec.role is Role.BASE:                   # it serves the Instruct model only
        with pytest.raises(ModelNotConfiguredError, match="Base"):
            vllm_omni.to_call(request)
        return
    text, _audio, max_new, min_new, seed = expected(spec, options)
    body = vllm_omni.to_call(request).json
    want = {**omni_wire(text), **lengths(max_new, min_new, seed)}
    assert {k: body[k] for k in ("temperature", "top_p", "top_k", "min_tokens", "max_tokens", "seed")
            if k in body} == want
    assert not any(k.startswith("audio_") for k in body)      # no field for the audio sampler there


def test_the_defaults_are_sent_not_left_to_the_engine():
    """The regression this guards: a default TTS call used to carry no sampler at all, so an
    engine whose own default is greedy (vLLM-Omni) did not sample as the local run does."""
    tts = TASKS["tts"]
    ours = wire.to_call(request_for(tts)).json
    assert (ours["temperature"], ours["top_p"], ours["audio_temperature"], ours["audio_top_p"]) == \
        (tts.text.temperature, tts.text.top_p, tts.audio.temperature, tts.audio.top_p) == (0.6, 1.0, 0.9, 0.95)
    omni = vllm_omni.to_call(request_for(tts)).json
    assert (omni["temperature"], omni["top_p"], omni["top_k"]) == (0.6, 1.0, -1)
    asr = wire.to_call(request_for(TASKS["asr"])).form       # greedy text, sampled audio
    assert (asr["temperature"], asr["audio_temperature"]) == ("0.0", "0.9") and "top_p" not in asr


@pytest.mark.parametrize("case", OPTION_CASES)
@pytest.mark.parametrize("task", TASKS)
def test_our_server_reads_back_exactly_what_a_local_run_resolves(task, case):
    """app/openai_api/params.py parses the body into options that resolve, on the server's
    side, to the same samplers and lengths the client resolved (the local run's)."""
    params = pytest.importorskip("app.openai_api.params")
    spec, options = TASKS[task], OPTION_CASES[case]
    request = request_for(spec, options)
    call = wire.to_call(request)
    data = call.json if call.json is not None else call.form
    server_groups = None
    if "duration_s" in data:                  # /v1/mimo/continue hands the duration's groups on
        server_groups = requested_groups(replace(request, duration_s=data["duration_s"]))
    there = resolve_settings(spec, params.options(data), server_groups)
    here = resolve_settings(spec, options, requested_groups(request))
    assert there == here
    text, audio, max_new, min_new, seed = expected(spec, options)
    assert (here.text, here.audio, here.max_new_groups, here.min_new_groups, here.seed) == \
        (text, audio, max_new, min_new, seed)
