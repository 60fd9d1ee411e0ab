"""The comparison rules of the parity tests, written once (../shared/fixtures/README.md,
"Suggested tolerances" and "Inputs at other sample rates"; docs/EXACTNESS.md says why).

A golden was made by the reference on one CPU. A result that depends on how that CPU rounds
floating point (FFT, matmul and attention reductions) is compared with a tolerance that holds
across x86-64 CPUs; exact equality is kept where no rounding can move the result (prompt ids,
token layouts, greedy tokens whose decision margins dwarf any rounding difference). Every rule
here is tested on its own in tests/test_parity_rules.py: a perturbation the size of the
measured cross-CPU difference passes, a known wrong implementation fails.

Each ``check_*`` raises AssertionError with a one-line reason, or returns what it measured.
"""

from __future__ import annotations

import math

import torch

# Measured on a 2-core AMD EPYC (Zen 3): the reference itself, and our faithful path, against
# goldens made on another CPU.
CROSS_CPU_ENCODER_OUT = 5.2e-6      # fp32 encoder_out, largest of the 24 kHz inputs (speech_hello 4.3e-6)
CROSS_CPU_8K_FRAMES = 8             # speech_8k: 8 of 70 frames (37 of 1,400 codes) differ

ENCODER_OUT_ATOL = 1e-4             # README's fp32 encoder_out tolerance (any attention backend)
# The math backend repeats the reference's arithmetic: it stays within a few times the fp32
# rounding of the golden itself (float64 vs fp32 golden: 4.3e-6, README "Determinism").
MATH_ENCODER_OUT_ATOL = 2e-5
MEL_LINEAR_ATOL = 1e-3              # README: another FFT, compared on the linear magnitude
MEL_LOG_ATOL = 1e-3                 # ... and on the log where the golden mel > 0.01
MEL_LOG_QUIET_ATOL = 0.2            # ... a loose bound on near-silent bins
MEL_LOUD_LINEAR = 0.01
WAV24K_ATOL = 1e-6                  # README: same resampling algorithm, float rounding only
FLIP_MARGIN = 1e-3                  # README: a full-band code may flip where its stage's margin < 1e-3
NARROW_BAND_FRAME_SHARE = 0.2       # README: speech_8k may differ in at most 20 % of its frames


def check_mel(mel: torch.Tensor, golden: torch.Tensor) -> dict:
    """Log-mel [T, M] against the golden: linear magnitude, log where loud, a loose bound elsewhere."""
    assert mel.shape == golden.shape, f"mel shape {tuple(mel.shape)} != golden {tuple(golden.shape)}"
    linear = (mel.exp() - golden.exp()).abs().max().item()
    loud = golden > math.log(MEL_LOUD_LINEAR)
    diff = (mel - golden).abs()
    log_loud = diff[loud].max().item() if bool(loud.any()) else 0.0
    log_quiet = diff[~loud].max().item() if bool((~loud).any()) else 0.0
    assert linear < MEL_LINEAR_ATOL, f"mel linear magnitude differs by {linear:.3g} (>= {MEL_LINEAR_ATOL})"
    assert log_loud < MEL_LOG_ATOL, f"log-mel differs by {log_loud:.3g} where loud (>= {MEL_LOG_ATOL})"
    assert log_quiet < MEL_LOG_QUIET_ATOL, f"log-mel differs by {log_quiet:.3g} where quiet (>= {MEL_LOG_QUIET_ATOL})"
    return {"linear": linear, "log_loud": log_loud, "log_quiet": log_quiet}


def check_close(got: torch.Tensor, golden: torch.Tensor, atol: float, what: str) -> float:
    """Elementwise |got - golden| < atol; returns the largest difference."""
    assert got.shape == golden.shape, f"{what}: shape {tuple(got.shape)} != golden {tuple(golden.shape)}"
    worst = (got.float() - golden.float()).abs().max().item()
    assert worst < atol, f"{what} differs by {worst:.3g} (>= {atol:g})"
    return worst


def first_flips(codes: torch.Tensor, golden: torch.Tensor) -> dict[int, int]:
    """{frame: first differing stage} for the frames of [S, T] codes that differ from the golden.
    RVQ stages are sequential: a flip at stage s changes the residual of every later stage, so
    only the first differing stage of a frame says anything about the cause."""
    assert codes.shape == golden.shape, f"codes shape {tuple(codes.shape)} != golden {tuple(golden.shape)}"
    differs = codes != golden                                              # [S, T]
    frames = differs.any(dim=0).nonzero()[:, 0].tolist()
    return {f: int(differs[:, f].nonzero()[0, 0]) for f in frames}


def check_full_band_codes(codes: torch.Tensor, golden: torch.Tensor, margin: torch.Tensor,
                          limit: float = FLIP_MARGIN) -> dict[int, int]:
    """Codes of a full-band input: equal, or flipped only at frames whose first differing stage
    had a reference margin (best minus runner-up score) below ``limit``."""
    flips = first_flips(codes, golden)
    wide = {f: s for f, s in flips.items() if float(margin[s, f]) >= limit}
    assert not wide, (f"{len(wide)} frame(s) flip where the reference's choice was clear (margin >= {limit:g}): "
                      + ", ".join(f"frame {f} stage {s} margin {float(margin[s, f]):.3g}"
                                  for f, s in list(wide.items())[:4]))
    return flips


def check_narrow_band_codes(codes: torch.Tensor, golden: torch.Tensor,
                            share: float = NARROW_BAND_FRAME_SHARE) -> dict[int, int]:
    """Codes of a narrow-band input (8 kHz speech: a tenth of its mel bins are at FFT-rounding
    level): at most ``share`` of the frames differ."""
    flips = first_flips(codes, golden)
    frames = golden.shape[1]
    assert len(flips) <= share * frames, f"{len(flips)} of {frames} frames differ (> {share:.0%})"
    return flips


def explained_by_near_ties(diff_positions, near_ties) -> list:
    """The (stage, frame) differences NOT explained by a listed near tie: a flip at a tie's
    (stage, frame) also changes the later stages of that frame."""
    tie_stage: dict[int, int] = {}
    for stage, frame, _margin in near_ties:
        tie_stage[frame] = min(stage, tie_stage.get(frame, stage))
    return [(s, f) for s, f in diff_positions if not (f in tie_stage and s >= tie_stage[f])]
