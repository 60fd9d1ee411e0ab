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

from ..constants import CODEC_FRAME_RATE, LM_CHANNELS
from ..errors import AudioInputError, InputTooLongError
from .limits import Limits
from .types import EncodedAudio


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


def load_voice_prompt(source, what: str, limits: Limits) -> "np.ndarray | EncodedAudio":
    """A voice prompt: any audio input (loaded as :func:`load_input_audio`), or
    :class:`~.types.EncodedAudio` whose codes are checked here and reused as they are."""
    if not isinstance(source, EncodedAudio):
        return load_input_audio(source, what, limits)
    codes = np.asarray(source.codes)
    if codes.ndim != 2 or codes.shape[0] < LM_CHANNELS or codes.shape[1] < 1 or codes.dtype.kind not in "iu":
        raise AudioInputError(f"{what}: encoded audio must be integer codes [>= {LM_CHANNELS}, T >= 1], "
                              f"got {codes.dtype} {tuple(codes.shape)}")
    seconds = codes.shape[1] / CODEC_FRAME_RATE
    if limits.max_audio_seconds is not None and seconds > limits.max_audio_seconds:
        raise InputTooLongError(f"{what} is {seconds:.1f} s long; the limit is {limits.max_audio_seconds:g} s")
    return source


class CodeEncoder:
    """Encodes waveforms with a shared audio tokenizer, serialising calls across threads.

    One encoder serves one request: a waveform used twice (a clip that is both a few-shot
    example and the query, say) is encoded once.
    """

    def __init__(self, get_tokenizer: Callable[[], object], lock: threading.RLock):
        self._get = get_tokenizer
        self._lock = lock
        self._memo: dict[tuple, torch.Tensor] = {}

    def __call__(self, wav: "np.ndarray | EncodedAudio") -> torch.Tensor:
        """``wav [N]`` -> LongTensor ``[8, T]`` (channels 0..7 of the tokenizer's 20); the codes
        of :class:`~.types.EncodedAudio` as they are (no codec call)."""
        if isinstance(wav, EncodedAudio):
            return torch.as_tensor(np.asarray(wav.codes)[:LM_CHANNELS], dtype=torch.long).clone()   # (C=8, T)
        key = (wav.shape, hashlib.sha1(np.ascontiguousarray(wav).tobytes()).hexdigest())
        if key not in self._memo:
            tokenizer = self._get()
            with self._lock, torch.inference_mode():
                codes = tokenizer.encode(wav)                   # (20, T)
            self._memo[key] = codes[:LM_CHANNELS].to("cpu", torch.long).contiguous()   # (C=8, T)
        return self._memo[key].clone()
