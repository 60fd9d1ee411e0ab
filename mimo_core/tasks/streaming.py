"""Incremental output reading: engine group events -> text deltas and audio chunks.

:class:`OutputTracker` follows spec section 8 (see :mod:`mimo_core.prompts.extraction`) one
group at a time, holding one group back because the reference drops the last generated group
from both text and audio. Speech frames go to the audio tokenizer's streaming decoder as soon
as they are known to be part of the output:

* when the prompt already opened speech (ends with ``<|sostm|>``: plain TTS, spoken dialogue,
  few-shot s2s; or inside an audio segment: continuation), every speech frame is pushed at
  once, up to the first ``<|eostm|>``;
* otherwise (thinking TTS) frames wait until a ``<|sostm|>`` opens speech (earlier frames are
  dropped, as the reference does) or, when none comes, until the end.

The final :class:`TaskResult` is always computed by the exact batch extraction; the chunks
concatenate to the same audio within the streaming decoder's tolerance. One case cannot be
followed live: a model that re-opens speech with ``<|sostm|>`` after speaking in an
already-open prompt; then the final result (authoritative) drops the earlier speech that was
already streamed, and :attr:`OutputTracker.diverged` is set.
"""

from __future__ import annotations

import contextlib
from typing import Optional

import numpy as np
import torch

from ..constants import LM_CHANNELS, SAMPLE_RATE
from ..prompts.extraction import REFERENCE_SILENCE_SECONDS, decode_text


class OutputTracker:
    def __init__(self, tokenizer, special_ids, empty_ids, *, speaks: bool, speech_open: bool,
                 decoder=None, codec_lock=None):
        self.tokenizer, self.ids = tokenizer, special_ids
        self.empty0 = int(empty_ids[0])
        self.speaks, self.live = speaks, speech_open
        self.decoder, self.codec_lock = decoder, codec_lock
        self.text_ids: list[int] = []
        self.emitted = ""
        self._pending = None                   # (text_id, codes (P, C)) held back one group
        self._buffer: list[torch.Tensor] = []  # frames awaiting a <|sostm|> (not live)
        self._sostm_seen = self._ended = False
        self.pushed_frames: list[torch.Tensor] = []   # what went to the decoder, (C, t) each
        self.diverged = False

    # ------------------------------------------------------------------ events
    def push(self, text_id: int, codes: torch.Tensor) -> tuple[str, Optional[np.ndarray]]:
        """Take one generated group (text id, codes ``(P, C)``); return (text delta, audio chunk)."""
        delta, chunk = "", None
        if self._pending is not None:
            delta, chunk = self._commit(*self._pending)
        self._pending = (int(text_id), codes)
        return delta, chunk

    def finish(self, final_text: str) -> tuple[str, Optional[np.ndarray]]:
        """End of generation: the held-back group is dropped; flush the decoder; the last
        text delta brings the streamed text up to ``final_text``."""
        self._pending = None
        chunks = []
        if self.speaks and not self._sostm_seen and self._buffer:    # no <|sostm|>: from the start
            chunks.append(self._decode_push(torch.cat(self._buffer, dim=1)))
        self._buffer = []
        if self.decoder is not None and self.speaks:
            if self.pushed_frames:
                with self._lock():
                    chunks.append(np.asarray(self.decoder.flush(), dtype=np.float32))
            else:
                chunks.append(np.zeros(int(REFERENCE_SILENCE_SECONDS * SAMPLE_RATE), dtype=np.float32))
        chunks = [c for c in chunks if c is not None and c.size]
        delta = final_text[len(self.emitted):] if final_text.startswith(self.emitted) else ""
        self.emitted = final_text if final_text.startswith(self.emitted) else self.emitted
        return delta, (np.concatenate(chunks) if chunks else None)

    # ------------------------------------------------------------------ internals
    def _commit(self, text_id: int, codes: torch.Tensor) -> tuple[str, Optional[np.ndarray]]:
        self.text_ids.append(text_id)
        delta = self._text_delta() if text_id != self.ids.empty else ""
        if not self.speaks:
            return delta, None
        if text_id == self.ids.sostm and not self._sostm_seen:
            # Output audio starts one group after the first <|sostm|>: frames before it are not
            # part of it, and when <|eostm|> already came, nothing is (the slice is empty).
            self._sostm_seen = True
            if self.live and self.pushed_frames:
                self.diverged = True
            self.live, self._buffer = not self._ended, []
            return delta, None
        if self._ended or text_id == self.ids.sostm:
            return delta, None
        if text_id == self.ids.eostm:
            self._ended = True
            return delta, None
        frames = codes.T[:, codes[:, 0] != self.empty0]          # (C, t) frames with audio
        if frames.shape[1] == 0:
            return delta, None
        if not self.live:
            self._buffer.append(frames)
            return delta, None
        return delta, self._decode_push(frames)

    def _decode_push(self, frames: torch.Tensor) -> Optional[np.ndarray]:
        self.pushed_frames.append(frames)
        if self.decoder is None:
            return None
        with self._lock():
            out = self.decoder.push(frames)
        out = np.asarray(out, dtype=np.float32)
        return out if out.size else None

    def _text_delta(self) -> str:
        full = decode_text(self.tokenizer, self.text_ids)
        if not full.startswith(self.emitted) or full.endswith("\ufffd"):
            return ""                          # an incomplete character or a changed prefix: wait
        delta, self.emitted = full[len(self.emitted):], full
        return delta

    def _lock(self):
        return self.codec_lock if self.codec_lock is not None else contextlib.nullcontext()

    def streamed_codes(self) -> torch.Tensor:
        """All frames pushed to the decoder, ``(C, N)`` (for tests and diagnostics)."""
        if not self.pushed_frames:
            return torch.zeros(LM_CHANNELS, 0, dtype=torch.long)
        return torch.cat(self.pushed_frames, dim=1)
