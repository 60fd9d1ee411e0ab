"""Audio at the API's edge: base64 / data-URI inputs in, encoded files and pcm16 chunks out.

Output is the model's 24 kHz mono float32. libsndfile (soundfile) writes every format we
offer: wav and flac (16-bit), mp3, and opus (in an Ogg container, as OpenAI sends it); pcm
is raw signed 16-bit little-endian samples at 24 kHz, OpenAI's "pcm" / "pcm16".
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import struct
from typing import Optional

import numpy as np
import soundfile as sf

from .errors import bad_request

SAMPLE_RATE = 24_000                  # the model's output rate
PCM16_MAX = 32767
# response_format -> (soundfile format, subtype, media type); "pcm" is handled apart
FILE_FORMATS = {
    "wav": ("WAV", "PCM_16", "audio/wav"),
    "flac": ("FLAC", "PCM_16", "audio/flac"),
    "mp3": ("MP3", "MPEG_LAYER_III", "audio/mpeg"),
    "opus": ("OGG", "OPUS", "audio/ogg"),
}
PCM_MEDIA_TYPE = "audio/pcm"
OUTPUT_FORMATS = (*FILE_FORMATS, "pcm")
_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+/-]*)(?P<params>(;[\w.+-]+=[\w.+-]+)*)(?P<b64>;base64)?,", re.I)


def media_type(fmt: str) -> str:
    return PCM_MEDIA_TYPE if fmt == "pcm" else FILE_FORMATS[fmt][2]


def pcm16(audio: np.ndarray) -> bytes:
    """``[N]`` float32 in [-1, 1] -> signed 16-bit little-endian bytes (clipped)."""
    samples = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    return (np.round(samples * PCM16_MAX).astype("<i2")).tobytes()


def encode(audio: np.ndarray, fmt: str) -> bytes:
    """The whole ``[N]`` 24 kHz waveform as one file (or raw pcm16) in ``fmt``."""
    if fmt == "pcm":
        return pcm16(audio)
    container, subtype, _ = FILE_FORMATS[fmt]
    buf = io.BytesIO()
    sf.write(buf, np.asarray(audio, dtype=np.float32), SAMPLE_RATE, format=container, subtype=subtype)
    return buf.getvalue()


def streaming_wav_header() -> bytes:
    """A 16-bit mono 24 kHz WAV header whose sizes say "unknown" (0xFFFFFFFF), for a WAV sent
    before its length is known; players read the pcm16 that follows until the stream ends."""
    unknown = 0xFFFFFFFF
    byte_rate, block = SAMPLE_RATE * 2, 2
    return (b"RIFF" + struct.pack("<I", unknown) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, SAMPLE_RATE, byte_rate, block, 16)
            + b"data" + struct.pack("<I", unknown))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode_base64(data: object, param: str) -> bytes:
    """Base64 text (or a ``data:...;base64,`` URI) -> bytes; 400 naming ``param`` otherwise."""
    if not isinstance(data, str) or not data:
        raise bad_request(f"{param} must be a non-empty base64 string", param=param)
    match = _DATA_URI.match(data)
    if match:
        if not match.group("b64"):
            raise bad_request(f"{param}: only base64 data URIs are accepted", param=param)
        data = data[match.end():]
    elif data.startswith(("http://", "https://", "file:")):
        raise bad_request(f"{param}: audio URLs are not fetched; send the audio inline as base64 "
                          "or a data: URI", param=param)
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(f"{param} is not valid base64", param=param) from None
    if not raw:
        raise bad_request(f"{param} is empty", param=param)
    return raw


def audio_part_bytes(part: dict, param: str) -> bytes:
    """The bytes of an ``input_audio {data, format}`` or ``audio_url {url}`` content part."""
    kind = part.get("type")
    if kind == "input_audio":
        body: Optional[dict] = part.get("input_audio")
        if not isinstance(body, dict):
            raise bad_request(f"{param}.input_audio must be an object with data and format", param=param)
        return decode_base64(body.get("data"), f"{param}.input_audio.data")
    body = part.get("audio_url")
    url = body.get("url") if isinstance(body, dict) else body
    return decode_base64(url, f"{param}.audio_url.url")
