"""What a remote engine is told about sampling and stopping: the request's settings resolved
here, exactly as a local run resolves them (:func:`mimo_core.tasks.defaults.request_settings`:
the task's registry defaults overlaid with the request's options), so an engine's own defaults
never decide how a task samples.

Lengths on both protocols count *groups*: one LM position = one text token + 4 audio frames
(0.16 s of speech). Our servers read ``max_tokens`` / ``min_tokens`` as groups
(app/openai_api/params.py); vLLM-Omni's stage-0 model makes one group per generated token, so
its ``max_tokens`` / ``min_tokens`` count groups too. No length is sent when the request asks for
none: the engine then stops at a stop token or the end of its context, as a local run does.

* :func:`mimo_fields` (our API): each option's ``wire`` field of
  :data:`mimo_core.sampler_config.OPTIONS`, the same names our server's parser reads: the text
  sampler as ``temperature`` / ``top_p`` / ``top_k``, the audio sampler as ``audio_temperature`` /
  ``audio_top_p`` / ``audio_top_k``; a greedy sampler is its temperature 0 alone, an option
  that is off is sent as its off value (top-k 0); ``seed``, ``max_tokens``, ``min_tokens``. Stop
  tokens are not sent: our server has no field for them and stops on the task's own (the same
  registry). Needs a server that takes temperature 0 as greedy (this version on).
* :func:`omni_fields` (vLLM-Omni's chat API, stage 0): the text sampler only (``temperature``
  0.0 = greedy, then ``top_p`` 1.0 and ``top_k`` -1, as its example client sends; top-k off is
  -1), ``seed``, ``max_tokens``, ``min_tokens``. It has no request field for the audio
  (patch-decoder) sampler: its model fixes that one inside (docs/DEPLOY.md).
"""

from __future__ import annotations

from typing import Any

from ..sampler_config import OPTIONS, Option, SamplerConfig
from ..tasks.defaults import TaskSettings, request_settings

__all__ = ["mimo_fields", "omni_fields", "request_settings"]


def _lengths(s: TaskSettings) -> dict[str, Any]:
    out: dict[str, Any] = {"min_tokens": s.min_new_groups}
    if s.max_new_groups is not None:
        out["max_tokens"] = s.max_new_groups
    if s.seed is not None:
        out["seed"] = s.seed
    return out


def _wire_value(option: Option, s: TaskSettings) -> Any:
    """What ``option`` is sent as for the resolved settings ``s`` (None: not sent)."""
    if option.sampler is None:
        return option.get(s)
    sampler: SamplerConfig = getattr(s, option.sampler)
    if sampler.greedy:                            # a greedy sampler is its temperature 0 alone
        return 0.0 if option.field.zero_is_greedy else None
    value = getattr(sampler, option.attr)
    return option.field.off if value is None else value


def mimo_fields(s: TaskSettings) -> dict[str, Any]:
    """Our API's fields for ``s``: every option's ``wire`` field of :data:`OPTIONS` (see the
    module docstring)."""
    sent = {option.wire: _wire_value(option, s) for option in OPTIONS if option.wire is not None}
    return {name: value for name, value in sent.items() if value is not None}


def omni_fields(s: TaskSettings) -> dict[str, Any]:
    """vLLM-Omni's chat fields for ``s`` (see the module docstring)."""
    text = s.text
    if text.greedy:
        sampler = {"temperature": 0.0, "top_p": 1.0, "top_k": -1}
    else:
        sampler = {"temperature": text.temperature, "top_p": text.top_p, "top_k": text.top_k or -1}
    return {**sampler, **_lengths(s)}
