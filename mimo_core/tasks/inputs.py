"""Input preparation: audio sources -> 24 kHz waveforms (with limits) -> the LM's 8 code channels.

Loading (file reading, decoding, length checks) is separated from encoding (the audio
tokenizer), so every input of a request is read and checked before any model runs.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..constants import LM_CHANNELS
from ..errors import AudioInputError, InputTooLongError
from .limits import Limits


def load_input_audio(source, what: str, limits: Limits) -> np.ndarray:
    """Load one audio input as 24 kHz mono float32, naming it in any error (``what``)."""
    from ..audio_io import load_audio

    if source is None:
        raise AudioInputError(f"{what} is missing")
    if isinstance(source, (str, Path)) and not str(source).strip():
        raise AudioInputError(f"{what} is missing (empty path)")
    try:
        return load_audio(source, max_seconds=limits.max_audio_seconds)
    except (AudioInputError, InputTooLongError) as exc:
        msg = str(exc)
        raise type(exc)(msg if msg.lower().startswith(what.lower()) else f"{what}: {msg}") from None


class CodeEncoder:
    """Encodes waveforms with a shared audio tokenizer, serialising calls across threads.

    One encoder serves one request: a waveform used twice (a clip that is both a few-shot
    example and the query, say) is encoded once.
    """

    def __init__(self, get_tokenizer: Callable[[], object], lock: threading.RLock):
        self._get = get_tokenizer
        self._lock = lock
        self._memo: dict[tuple, torch.Tensor] = {}

    def __call__(self, wav: np.ndarray) -> torch.Tensor:
        """``wav [N]`` -> LongTensor ``[8, T]`` (channels 0..7 of the tokenizer's 20)."""
        key = (wav.shape, hashlib.sha1(np.ascontiguousarray(wav).tobytes()).hexdigest())
        if key not in self._memo:
            tokenizer = self._get()
            with self._lock, torch.inference_mode():
                codes = tokenizer.encode(wav)                   # (20, T)
            self._memo[key] = codes[:LM_CHANNELS].to("cpu", torch.long).contiguous()   # (C=8, T)
        return self._memo[key].clone()
