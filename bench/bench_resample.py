"""Resampling to 24 kHz on the CPU: our reference-exact resampler against soxr, same run.

    python bench/bench_resample.py [--minutes 10] [--rates 48000 44100] [--threads 2] [--repeats 3]

For each input rate, a random float32 mono clip of ``--minutes`` is resampled to 24 kHz by
``mimo_core.resample.resample`` (torchaudio's default algorithm, what every upload now goes
through) and by soxr "VHQ" as the previous default did it (float64 copy of the same samples; also
what ``resampler="soxr"`` does now), the baseline.
Each time is the best of ``--repeats`` runs after one warm-up on a short clip, as wall time and
as this process's CPU time (all threads; steadier on a shared machine); the ratios are
ours / soxr (below 1: ours is faster). Target: well under 1 s for 10 minutes of 48 kHz.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from anywhere

from mimo_core.audio_io import SOXR_QUALITY  # noqa: E402
from mimo_core.constants import SAMPLE_RATE  # noqa: E402
from mimo_core.resample import resample  # noqa: E402

WARM_UP_SECONDS = 1


def best_times(fn, repeats: int) -> tuple[float, float]:
    """(best wall seconds, best CPU seconds) over ``repeats`` calls."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rates", type=int, nargs="+", default=[48000, 44100])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import soxr

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"{args.minutes:g} min of mono float32 -> {SAMPLE_RATE} Hz, {args.threads} threads, best of {args.repeats}")
    print(f"{'input Hz':>9} {'ours wall s':>12} {'soxr wall s':>12} {'ratio':>6} "
          f"{'ours cpu s':>11} {'soxr cpu s':>11} {'ratio':>6}")
    for rate in args.rates:
        clip = (0.1 * rng.standard_normal(int(args.minutes * 60 * rate))).astype(np.float32)
        wav = torch.from_numpy(clip)
        resample(wav[:WARM_UP_SECONDS * rate], rate, SAMPLE_RATE)
        soxr.resample(clip[:WARM_UP_SECONDS * rate], rate, SAMPLE_RATE, quality=SOXR_QUALITY)
        with torch.inference_mode():
            ours = best_times(lambda: resample(wav, rate, SAMPLE_RATE), args.repeats)
        base = best_times(lambda: soxr.resample(clip.astype(np.float64), rate, SAMPLE_RATE, quality=SOXR_QUALITY),
                          args.repeats)
        print(f"{rate:>9} {ours[0]:>12.3f} {base[0]:>12.3f} {ours[0] / base[0]:>6.2f} "
              f"{ours[1]:>11.3f} {base[1]:>11.3f} {ours[1] / base[1]:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
