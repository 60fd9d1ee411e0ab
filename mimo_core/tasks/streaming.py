"""Live output: engine group events -> text deltas and audio chunks, over the one output rule.

:class:`OutputTracker` feeds every generated group to an
:class:`~mimo_core.prompts.extraction.OutputReader` (docs/FORMAT.md section 8), the same
reader whose replay is the one-shot extraction, and streams what the reader commits
(:class:`Update`):

* text: the decoded text grows as groups are committed (one group is held back, because the
  reference drops the last generated group); three views of it: the exact text
  (``Update.text``), and, split once by the reader, the reasoning and the answer without
  markup (``Update.thinking``, ``Update.answer``: what people see), each only ever appended to;
* audio: when the prompt already opened speech (ends with ``<|sostm|>``: plain TTS, spoken
  dialogue, few-shot s2s; or inside an audio segment: continuation), every output frame goes
  to the audio tokenizer's streaming decoder at once; otherwise (thinking TTS) frames wait
  until a ``<|sostm|>`` opens speech (the frames before it are not part of the output) or,
  when none comes, until the end.

The final result (:meth:`OutputTracker.output`) is the reader's, for a streamed run and a
one-shot run alike. One case cannot be followed live: a model that re-opens speech with
``<|sostm|>`` after speaking in an already-open prompt; the output then drops the earlier
speech that was already streamed, and :attr:`OutputTracker.diverged` is set.
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple, Optional

import numpy as np
import torch

from ..constants import SAMPLE_RATE
from ..prompts.extraction import REFERENCE_SILENCE_SECONDS, ExtractedOutput, OutputReader


class Update(NamedTuple):
    """What one group (or the end) adds: text deltas and an audio chunk (None: no new audio)."""

    text: str = ""                       # the exact text's delta (TaskResult.text grows by it)
    thinking: str = ""                   # the reasoning's delta, without markup
    answer: str = ""                     # the answer's delta, without markup
    audio: Optional[np.ndarray] = None


class OutputTracker:
    def __init__(self, tokenizer, special_ids, empty_ids, *, speaks: bool, speech_open: bool,
                 decoder=None, codec_lock=None, deltas: bool = True, opened_thinking: bool = False):
        """``speaks``: stream audio; ``deltas``: compute text deltas as groups arrive (a one-shot
        run needs neither: it reads :meth:`output` at the end); ``opened_thinking``: the prompt
        ended with an open think block (planning's decision)."""
        self.reader = OutputReader(tokenizer, special_ids, empty_ids, opened_thinking=opened_thinking)
        self.ids = special_ids
        self.speaks, self.live, self.deltas = speaks, speech_open, deltas
        self.decoder, self.codec_lock = decoder, codec_lock
        self.emitted = {"text": "", "thinking": "", "answer": ""}
        self._buffer: list[torch.Tensor] = []  # output frames awaiting a <|sostm|> (not live)
        self.pushed_frames: list[torch.Tensor] = []   # what went to the decoder, (C, t) each
        self.diverged = False
        self._speech_opened = False

    # ------------------------------------------------------------------ events
    def push(self, text_id: int, codes: torch.Tensor) -> Update:
        """Take one generated group (text id, codes ``(P, C)``); return what it adds."""
        committed = self.reader.push(text_id, codes)
        chunks = [self._stream(*c) for c in committed]
        texty = any(t != self.ids.empty for t, _ in committed)     # speech groups add no text
        return self._text_update(final=False, audio=_join(chunks)) if texty and self.deltas \
            else Update(audio=_join(chunks))

    def finish(self) -> Update:
        """End of generation: the held-back group is dropped; flush the decoder. Returns the
        last text deltas and audio chunk."""
        for committed in self.reader.finish():
            self._stream(*committed)
        chunks = []
        if self.speaks and not self.reader.sostm_seen and self._buffer:   # no <|sostm|>: from the start
            chunks.append(self._decode_push(torch.cat(self._buffer, dim=1)))
        self._buffer = []
        if self.decoder is not None and self.speaks:
            if self.pushed_frames:
                with self._lock():
                    chunks.append(np.asarray(self.decoder.flush(), dtype=np.float32))
            else:
                chunks.append(np.zeros(int(REFERENCE_SILENCE_SECONDS * SAMPLE_RATE), dtype=np.float32))
        return self._text_update(final=True, audio=_join(chunks)) if self.deltas else Update(audio=_join(chunks))

    def stop_live(self) -> None:
        """From now on only read the groups (no text deltas, no decoding): a cancelled stream."""
        self.speaks = self.deltas = False
        self.decoder, self._buffer = None, []

    def output(self) -> ExtractedOutput:
        """The output text and codes (the one rule; identical to the one-shot extraction)."""
        return self.reader.output()

    # ------------------------------------------------------------------ internals
    def _stream(self, text_id: int, frames: torch.Tensor) -> Optional[np.ndarray]:
        if not self.speaks:
            return None
        if text_id == self.ids.sostm and not self._speech_opened:
            # the reader dropped what came before: stream from here on (if it already went
            # out live, the streamed audio and the result differ: see the module docstring)
            self._speech_opened = True
            if self.live and self.pushed_frames:
                self.diverged = True
            self.live, self._buffer = not self.reader.ended, []
            return None
        if frames.shape[1] == 0:
            return None
        if not self.live:
            self._buffer.append(frames)
            return None
        return self._decode_push(frames)

    def _decode_push(self, frames: torch.Tensor) -> Optional[np.ndarray]:
        self.pushed_frames.append(frames)
        if self.decoder is None:
            return None
        with self._lock():
            out = self.decoder.push(frames)
        out = np.asarray(out, dtype=np.float32)
        return out if out.size else None

    def _text_update(self, final: bool, audio: Optional[np.ndarray]) -> Update:
        full = self.reader.text()
        thinking, answer = self.reader.thinking_and_answer(final=final)
        text = "" if (full.endswith("\ufffd") and not final) else self._delta("text", full)
        return Update(text, self._delta("thinking", thinking), self._delta("answer", answer), audio)

    def _delta(self, part: str, now: str) -> str:
        emitted = self.emitted[part]
        if not now.startswith(emitted):
            return ""                          # a changed prefix: wait (the reader's parts only grow)
        self.emitted[part] = now
        return now[len(emitted):]

    def _lock(self):
        return self.codec_lock if self.codec_lock is not None else contextlib.nullcontext()


def _join(chunks) -> Optional[np.ndarray]:
    chunks = [c for c in chunks if c is not None and c.size]
    return np.concatenate(chunks) if chunks else None
