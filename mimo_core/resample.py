"""Band-limited resampling as the reference front end does it (docs/FORMAT.md section 2).

The reference resamples every input with ``torchaudio.functional.resample`` and its
defaults. This module reimplements that algorithm in plain torch (torchaudio cannot be
installed beside our torch), so that an upload at 44.1/48/16/8 kHz gets the reference's
24 kHz waveform and hence its codes.

The algorithm (windowed sinc, Hann window):

* both rates are divided by their gcd: ``orig`` input samples map to ``new`` output samples;
* the low-pass cut-off is ``base = min(orig, new) * rolloff`` (in units of the reduced rates);
  each output phase ``j`` in ``0..new-1`` has its own FIR filter over the input offsets
  ``i`` in ``[-width, width + orig)``, ``width = ceil(lowpass_filter_width * orig / base)``:
  with ``t = (i / orig - j / new) * base`` clamped to ``[-w, w]`` (``w`` the filter width),
  ``h_j(i) = sinc(pi t) * cos(pi t / (2 w))^2 * base / orig``;
* the input is zero-padded by ``width`` on the left and ``width + orig`` on the right, cut
  into windows of ``2 width + orig`` samples every ``orig`` samples, and each window gives
  ``new`` outputs (one per phase); the result is cut to ``ceil(new * N / orig)`` samples.

The kernel is computed in the waveform's dtype (float32 for audio), in the same order of
operations as the reference, so results agree to float rounding (bit-equal on the goldens).
Here the windows are a strided view (``unfold``) multiplied by the kernel matrix, block by block
so that long inputs need little extra memory; with few phases, consecutive windows are grouped
into one wide window (:func:`grouped_kernel`) so that the product stays a matrix product.
"""

from __future__ import annotations

import math

import torch

LOWPASS_FILTER_WIDTH = 6        # zero crossings of the sinc on each side (reference default)
ROLLOFF = 0.99                  # cut-off as a fraction of the lower Nyquist (reference default)
BLOCK_WINDOWS = 1 << 14         # wide windows multiplied per block (bounds the copy matmul makes)
MIN_OUTPUTS_PER_WINDOW = 32     # group windows until each wide window gives at least this many outputs


def reduced_rates(orig_sr: int, new_sr: int) -> tuple[int, int]:
    """``(orig, new)`` divided by their gcd, e.g. 44100, 24000 -> 147, 80."""
    if int(orig_sr) != orig_sr or int(new_sr) != new_sr or orig_sr <= 0 or new_sr <= 0:
        raise ValueError(f"sample rates must be positive integers, got {orig_sr} and {new_sr}")
    gcd = math.gcd(int(orig_sr), int(new_sr))
    return int(orig_sr) // gcd, int(new_sr) // gcd


def sinc_kernel(orig_sr: int, new_sr: int, *, dtype: torch.dtype = torch.float32,
                device: torch.device | str = "cpu", lowpass_filter_width: int = LOWPASS_FILTER_WIDTH,
                rolloff: float = ROLLOFF) -> tuple[torch.Tensor, int]:
    """The Hann-windowed sinc filters: ``(kernel [new, 2 * width + orig], width)`` in ``dtype``.

    Row ``j`` holds the weights of output phase ``j`` over input offsets ``-width .. width + orig - 1``.
    """
    if lowpass_filter_width <= 0:
        raise ValueError(f"lowpass_filter_width must be positive, got {lowpass_filter_width}")
    orig, new = reduced_rates(orig_sr, new_sr)
    base = min(orig, new) * rolloff
    width = math.ceil(lowpass_filter_width * orig / base)
    offsets = torch.arange(-width, width + orig, dtype=dtype, device=device)[None, :] / orig   # (1, taps)
    phases = torch.arange(0, -new, -1, dtype=dtype, device=device)[:, None] / new             # (new, 1)
    t = (phases + offsets) * base                                                             # (new, taps)
    t = t.clamp(-lowpass_filter_width, lowpass_filter_width)
    window = torch.cos(t * math.pi / lowpass_filter_width / 2) ** 2
    t = t * math.pi
    sinc = torch.where(t == 0, torch.ones((), dtype=dtype, device=device), t.sin() / t)
    return sinc * (window * (base / orig)), width


def output_length(n_samples: int, orig_sr: int, new_sr: int) -> int:
    """``ceil(new_sr * n / orig_sr)``: the number of samples ``resample`` returns."""
    orig, new = reduced_rates(orig_sr, new_sr)
    return -(-new * int(n_samples) // orig)


def grouped_kernel(kernel: torch.Tensor, orig: int, group: int) -> torch.Tensor:
    """``group`` consecutive windows as one: ``[new, taps] -> [group * new, (group - 1) * orig + taps]``.

    Row ``g * new + j`` is phase ``j``'s filter shifted right by ``g * orig`` (zeros elsewhere), so one
    wide window every ``group * orig`` samples gives the outputs of ``group`` ordinary windows.
    With few phases (48 -> 24 kHz has one) this turns a matrix-vector product into a real matrix
    product; the extra terms are exact zeros.
    """
    new, taps = kernel.shape
    wide = kernel.new_zeros(group, new, (group - 1) * orig + taps)           # (G, new, taps')
    for g in range(group):
        wide[g, :, g * orig: g * orig + taps] = kernel
    return wide.reshape(group * new, -1)                                     # (G*new, taps')


def resample(wav: torch.Tensor, orig_sr: int, new_sr: int, *,
             lowpass_filter_width: int = LOWPASS_FILTER_WIDTH, rolloff: float = ROLLOFF,
             block_windows: int = BLOCK_WINDOWS) -> torch.Tensor:
    """Resample ``wav [..., N]`` (floating point) from ``orig_sr`` to ``new_sr`` -> ``[..., ceil(new_sr N / orig_sr)]``.

    Same rates: ``wav`` itself is returned. The kernel is built in ``wav``'s dtype and device.
    """
    if not wav.is_floating_point():
        raise TypeError(f"resample expects a floating-point waveform, got {wav.dtype}")
    orig, new = reduced_rates(orig_sr, new_sr)
    if orig == new:
        return wav
    kernel, width = sinc_kernel(orig_sr, new_sr, dtype=wav.dtype, device=wav.device,
                                lowpass_filter_width=lowpass_filter_width, rolloff=rolloff)
    group = -(-MIN_OUTPUTS_PER_WINDOW // new)                                 # windows per wide window
    wide = grouped_kernel(kernel, orig, group).t()                            # (taps', G*new)
    lead = wav.shape[:-1]
    flat = wav.reshape(-1, wav.shape[-1])                                     # (B, N)
    n_in = flat.shape[1]
    n_windows = n_in // orig + 1                                              # the reference's window count
    n_wide = -(-n_windows // group)
    # the reference pads `width` zeros left and `width + orig` right; the last wide window may
    # reach further, into zeros that only feed outputs cut off below
    right = (n_wide - 1) * group * orig + wide.shape[0] - n_in - width
    padded = torch.nn.functional.pad(flat, (width, right))                   # (B, width + N + right)
    windows = padded.unfold(-1, wide.shape[0], group * orig)                  # (B, n_wide, taps') strided view
    out = torch.empty(flat.shape[0], n_wide, group * new, dtype=wav.dtype, device=wav.device)
    for start in range(0, n_wide, block_windows):
        stop = min(start + block_windows, n_wide)
        torch.matmul(windows[:, start:stop], wide, out=out[:, start:stop])   # (B, blk, G*new)
    out = out.reshape(flat.shape[0], -1)[:, :output_length(n_in, orig, new)]  # (B, N')
    return out.reshape(*lead, out.shape[-1])
