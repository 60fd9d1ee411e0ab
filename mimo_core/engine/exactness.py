"""The fast path's exactness rule, as data and one comparison (docs/FAST_PATH.md).

* float32: greedy decoding reproduces every golden exactly (every group, every code, same stop).
* bfloat16: greedy runs from the golden prompts agree with the float32 goldens at least as well
  as the reference's own bf16 run agrees with its fp32 run. The reference's figures (fixtures
  README, "fp32 versus bf16", 15 LM cases): 1 case of 15 fully identical, 23 % of generated text
  ids equal position by position, 10 of 15 stops equal. The rule compares all three. (The eager
  path is not held to it: it repeats the reference's bf16 arithmetic step by step and, from the
  same prompts, ends only 7 of 15 cases like the fp32 goldens: on the fixtures' tiny random
  model a stop is one near-tie away from another group.)

``bench/lm_bf16_agreement.py`` prints the measurement; ``tests/test_engine_golden.py`` asserts it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .types import GenerationResult

AUDIO_CHANNELS = 8
GROUP = 4


@dataclass(frozen=True)
class Agreement:
    """How one run agrees with a golden run of the same prompt."""

    identical: bool
    text: float           # fraction of generated text ids equal position by position (shorter run)
    codes: float          # fraction of codes equal over groups both runs made speech (nan if none)
    same_stop: bool       # same number of generated groups (so the same stop)


@dataclass(frozen=True)
class Summary:
    cases: int
    identical: int
    mean_text: float
    same_stop: int

    def at_least(self, other: "Summary") -> bool:
        """Agreement at least ``other``'s: identical cases, mean text-id agreement and equal
        stops (each as a fraction of the cases)."""
        return (self.identical / self.cases >= other.identical / other.cases
                and self.mean_text >= other.mean_text
                and self.same_stop / self.cases >= other.same_stop / other.cases)


# the reference's bf16 run against its fp32 run (fixtures README, "fp32 versus bf16")
REFERENCE_BF16_VS_FP32 = Summary(cases=15, identical=1, mean_text=0.23, same_stop=10)


def agreement(result: GenerationResult, golden_ids: torch.Tensor, prompt_columns: int, empty: int) -> Agreement:
    """Compare a run's generated matrix (K, T + P*n) with a golden one of the same prompt."""
    ours, ref = result.generated_ids[:, prompt_columns:], golden_ids[:, prompt_columns:]
    n = min(ours.shape[1], ref.shape[1]) // GROUP * GROUP
    text_ours, text_ref = ours[0, :n:GROUP], ref[0, :n:GROUP]
    both_speech = (text_ours == empty) & (text_ref == empty)
    codes_ours = ours[1:, :n].reshape(AUDIO_CHANNELS, -1, GROUP)[:, both_speech]   # (C, groups, P)
    codes_ref = ref[1:, :n].reshape(AUDIO_CHANNELS, -1, GROUP)[:, both_speech]
    return Agreement(
        identical=bool(torch.equal(result.generated_ids, golden_ids)),
        text=float((text_ours == text_ref).float().mean()) if n else 1.0,
        codes=float((codes_ours == codes_ref).float().mean()) if codes_ours.numel() else float("nan"),
        same_stop=ours.shape[1] == ref.shape[1],
    )


def summarize(rows: Sequence[Agreement]) -> Summary:
    return Summary(len(rows), sum(r.identical for r in rows), sum(r.text for r in rows) / len(rows),
                   sum(r.same_stop for r in rows))
