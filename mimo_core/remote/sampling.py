"""What a remote engine is told about sampling and stopping: the request's settings resolved
here, exactly as a local run resolves them (:func:`mimo_core.tasks.defaults.request_settings`:
the task's registry defaults overlaid with the request's options), so an engine's own defaults
never decide how a task samples.

Lengths on both protocols count *groups*: one LM position = one text token + 4 audio frames
(0.16 s of speech). Our servers read ``max_tokens`` / ``min_tokens`` as groups
(app/openai_api/params.py); vLLM-Omni's stage-0 model makes one group per generated token, so
its ``max_tokens`` / ``min_tokens`` count groups too. No length is sent when the request asks for
none: the engine then stops at a stop token or the end of its context, as a local run does.

* :func:`mimo_fields` (our API): the text sampler as ``temperature`` / ``top_p`` / ``top_k``, the
  audio sampler as ``audio_temperature`` / ``audio_top_p`` / ``audio_top_k``; a greedy sampler
  is its temperature 0 alone, top-k off is 0; ``seed``, ``max_tokens``, ``min_tokens``. Stop
  tokens are not sent: our server has no field for them and stops on the task's own (the same
  registry). Needs a server that takes temperature 0 as greedy (this version on).
* :func:`omni_fields` (vLLM-Omni's chat API, stage 0): the text sampler only (``temperature``
  0.0 = greedy, then ``top_p`` 1.0 and ``top_k`` -1, as its example client sends; top-k off is
  -1), ``seed``, ``max_tokens``, ``min_tokens``. It has no request field for the audio
  (patch-decoder) sampler: its model fixes that one inside (docs/DEPLOY.md).
"""

from __future__ import annotations

from typing import Any

from ..sampler_config import SamplerConfig
from ..tasks.defaults import TaskSettings, request_settings

__all__ = ["mimo_fields", "omni_fields", "request_settings"]


def _lengths(s: TaskSettings) -> dict[str, Any]:
    out: dict[str, Any] = {"min_tokens": s.min_new_groups}
    if s.max_new_groups is not None:
        out["max_tokens"] = s.max_new_groups
    if s.seed is not None:
        out["seed"] = s.seed
    return out


def _ours(prefix: str, sampler: SamplerConfig) -> dict[str, Any]:
    if sampler.greedy:
        return {f"{prefix}temperature": 0.0}
    return {f"{prefix}temperature": sampler.temperature, f"{prefix}top_p": sampler.top_p,
            f"{prefix}top_k": sampler.top_k or 0}


def mimo_fields(s: TaskSettings) -> dict[str, Any]:
    """Our API's fields for ``s`` (see the module docstring)."""
    return {**_ours("", s.text), **_ours("audio_", s.audio), **_lengths(s)}


def omni_fields(s: TaskSettings) -> dict[str, Any]:
    """vLLM-Omni's chat fields for ``s`` (see the module docstring)."""
    text = s.text
    if text.greedy:
        sampler = {"temperature": 0.0, "top_p": 1.0, "top_k": -1}
    else:
        sampler = {"temperature": text.temperature, "top_p": text.top_p, "top_k": text.top_k or -1}
    return {**sampler, **_lengths(s)}
