"""Streaming decode: codes arrive a few frames at a time, audio leaves as soon as it is final.

Each ``push`` re-decodes a window made of a kept left context, the frames not yet played
and the new frames, then emits only the samples that no future frame can change any
more: the vocoder's sliding-window attention lets a mel frame see ``right window x
layers`` frames ahead (160 mel frames = 40 code frames for the release, 20 = 5 for the
tiny config) and the ISTFT overlap adds (win - hop) / 2 samples, so the last
``holdback_samples`` of every window are held back until more codes (or ``flush``) arrive.
Code chunks of 1500 frames are decoded independently, exactly as ``AudioTokenizer.decode``
does, so a chunk's end is final the moment its last frame arrives.

Why the stream is not bit-identical to ``decode``: the decoder's two GroupNorm layers
normalise over the whole sequence they see, so a window's statistics (prefix or kept
left context) differ slightly from the whole utterance's, and with a bounded left
context the causal decoder transformer forgets history beyond it. Stated tolerance,
checked in tests/test_codec_streaming.py on the fixture tokenizer with 4-frame pushes:
relative RMS difference to the whole decode <= 0.05 and no seam at emission
boundaries (sample-to-sample steps there stay within the signal's own step range).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import AudioInputError

if TYPE_CHECKING:
    from .model import AudioTokenizer

DEFAULT_LEFT_CONTEXT_FRAMES = 250    # reference streaming decoder: 10 s of kept left context


class StreamingDecoder:
    """push(codes [C, t]) -> float32 samples now final (may be empty); flush() -> the rest.

    ``left_context_frames``: code frames kept before the unplayed ones (None keeps the
    whole current 1500-frame chunk: closest to ``decode``, cost grows with the chunk).
    ``holdback_frames``: override the exact right hold-back (in code frames, may be
    fractional) to trade accuracy for latency.
    """

    def __init__(self, tokenizer: AudioTokenizer, *, left_context_frames: int | None = DEFAULT_LEFT_CONTEXT_FRAMES,
                 holdback_frames: float | None = None):
        self.tokenizer = tokenizer
        cfg = tokenizer.config
        self.frame_samples = cfg.samples_per_frame
        self.left_context_frames = left_context_frames
        if holdback_frames is None:
            right_mel = tokenizer.model.decoder.vocoder.right_reach
            istft_trim = (cfg.nfft - cfg.hop_length) // 2
            self.holdback_samples = right_mel * cfg.hop_length + istft_trim
        else:
            self.holdback_samples = int(round(holdback_frames * self.frame_samples))
        self.channels: int | None = None
        self._reset_chunk()

    @property
    def holdback_frames(self) -> float:
        """Right hold-back in code frames: audio of frame f is final once f + this many frames arrived."""
        return self.holdback_samples / self.frame_samples

    def _reset_chunk(self) -> None:
        self._buffer: torch.Tensor | None = None     # codes [C, n] for chunk frames [buf_start, frames)
        self._buf_start = 0
        self._frames = 0                              # frames received in the current chunk
        self._emitted = 0                             # samples of the current chunk already returned

    def _decode_buffer(self) -> np.ndarray:
        return self.tokenizer.decode_chunks([self._buffer])[0].numpy()

    def _emit_until(self, final: int) -> np.ndarray:
        if final <= self._emitted or self._buffer is None:
            return np.zeros(0, dtype=np.float32)
        offset = self._buf_start * self.frame_samples
        wav = self._decode_buffer()[self._emitted - offset: final - offset]
        self._emitted = final
        if self.left_context_frames is not None:
            keep_from = max(self._buf_start, self._emitted // self.frame_samples - self.left_context_frames)
            self._buffer = self._buffer[:, keep_from - self._buf_start:]
            self._buf_start = keep_from
        return wav

    def _append(self, codes: torch.Tensor) -> None:
        self._buffer = codes if self._buffer is None else torch.cat([self._buffer, codes], dim=1)
        self._frames += codes.shape[1]

    def push(self, codes) -> np.ndarray:
        """Add codes [C, t] (C fixed for the stream); return the samples that became final."""
        codes = self.tokenizer.check_codes(codes)
        if self.channels is None:
            self.channels = codes.shape[0]
        elif codes.shape[0] != self.channels:
            raise AudioInputError(f"stream started with {self.channels} code channels, got {codes.shape[0]}")
        out = []
        while codes.shape[1]:
            chunk = self.tokenizer.decode_chunk_frames
            room = chunk - self._frames
            self._append(codes[:, :room])
            codes = codes[:, room:]
            if self._frames == chunk:
                out.append(self.flush())
            else:
                out.append(self._emit_until(self._frames * self.frame_samples - self.holdback_samples))
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    def flush(self) -> np.ndarray:
        """The codes so far are complete: return every sample not yet returned and start afresh."""
        wav = self._emit_until(self._frames * self.frame_samples)
        self._reset_chunk()
        return wav
