"""Pure segment helpers: token ids and audio codes -> pieces of the [K, T] prompt matrix.

A prompt is a LongTensor ``[K, T]`` (K = 9 streams, T columns at 25 Hz, T a multiple of
P = 4). Every P columns form one LM position ("group"):

* row 0 is text: the group's text id sits in its first column, the other P-1 columns hold
  :data:`~mimo_core.constants.TEXT_FILLER`;
* rows 1..8 are RVQ channels 0..7: codes (time-major) in audio groups, each channel's
  *empty* id in text groups.

Worked example (``P = 4``; ``E`` = per-channel empty ids, ``∅`` = the ``<|empty|>`` text id,
``F`` = filler): a text segment for ids ``[a, b]`` followed by an audio segment with
markers for 4 frames of codes ``c0..c3`` is::

    row 0 :  a F F F | b F F F | sosp F F F | ∅  F  F  F  | eosp F F F
    rows1-8: E E E E | E E E E | E    E E E | c0 c1 c2 c3 | E    E E E

Everything here knows only ids; turning text into ids is :mod:`.text_encoding`'s job.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ..constants import GROUP_SIZE, LM_CHANNELS, STREAMS, TEXT_FILLER
from ..config_io import parse_dashed_ints
from ..errors import PromptError

# speech_zeroemb_idx of the released checkpoints' config.json: the empty id of each of the
# 8 LM channels (the last id of each channel's vocabulary 1025-1025-129x6).
RELEASE_SPEECH_ZEROEMB_IDX = "1024-1024-128-128-128-128-128-128"

# Interleaved segments alternate this many text tokens with this many audio groups (docs/FORMAT.md section 5).
INTERLEAVE_TEXT_TOKENS = 5
INTERLEAVE_AUDIO_GROUPS = 5


def parse_empty_ids(value: str | Sequence[int]) -> tuple[int, ...]:
    """Per-channel empty ids from a config value: ``"1024-1024-128-..."`` or a sequence of ints
    (:func:`mimo_core.config_io.parse_dashed_ints`, the one dashed-list parser)."""
    return parse_dashed_ints(value, LM_CHANNELS, "speech empty ids", error=PromptError)


RELEASE_SPEECH_EMPTY_IDS: tuple[int, ...] = parse_empty_ids(RELEASE_SPEECH_ZEROEMB_IDX)


# ------------------------------------------------------------------------------- codes
def check_codes(codes, empty_ids: Sequence[int] = RELEASE_SPEECH_EMPTY_IDS) -> torch.Tensor:
    """Validate audio codes and return channels 0..7 as a LongTensor ``[C=8, T]``.

    Accepts ``[C, T]`` integer codes with C >= 8 (the audio tokenizer's ``[20, T]`` output is
    fine: the LM keeps channels 0..7) and T >= 1. Every code must lie in ``[0, empty_id)``
    of its channel, since the empty id means "no audio" to the LM.
    """
    codes = torch.as_tensor(codes)
    n_ch = len(empty_ids)
    assert codes.dim() == 2 and codes.shape[0] >= n_ch, \
        f"audio codes must be [C>={n_ch}, T], got shape {tuple(codes.shape)}"
    assert not (codes.dtype.is_floating_point or codes.dtype == torch.bool or codes.dtype.is_complex), \
        f"audio codes must be integers, got {codes.dtype}"
    assert codes.shape[1] > 0, "audio codes are empty (no frame)"
    codes = codes[:n_ch].to(torch.long)                      # (C, T)
    limit = torch.tensor(empty_ids, dtype=torch.long)[:, None]  # (C, 1)
    assert not (bool((codes < 0).any()) or bool((codes >= limit).any())), \
        "audio codes out of range: each channel's codes must be below its empty id"
    return codes


def pad_to_group(codes: torch.Tensor) -> torch.Tensor:
    """Pad ``[C, T]`` codes to a multiple of P frames by repeating the last frame (reference)."""
    remainder = codes.shape[1] % GROUP_SIZE
    if remainder == 0:
        return codes
    last = codes[:, -1:].expand(-1, GROUP_SIZE - remainder)  # (C, P - T % P)
    return torch.cat([codes, last], dim=1)


def trim_to_group(codes: torch.Tensor) -> torch.Tensor:
    """Drop the last ``T % P`` frames of ``[C, T]`` codes (speech continuation's prompt)."""
    usable = codes.shape[1] - codes.shape[1] % GROUP_SIZE
    assert usable > 0, f"audio too short: need at least {GROUP_SIZE} codec frames, got {codes.shape[1]}"
    return codes[:, :usable]


# ----------------------------------------------------------------------------- segments
def _empty_audio_rows(n_cols: int, empty_ids: Sequence[int]) -> torch.Tensor:
    # (C, n_cols) filled with each channel's empty id
    return torch.tensor(empty_ids, dtype=torch.long)[:, None].expand(-1, n_cols).clone()


def _text_row(group_ids: Sequence[int]) -> torch.Tensor:
    """Row 0 for the given per-group text ids: the id in each group's first column, filler after."""
    row = torch.full((len(group_ids), GROUP_SIZE), TEXT_FILLER, dtype=torch.long)  # (G, P)
    row[:, 0] = torch.tensor(list(group_ids), dtype=torch.long)
    return row.reshape(1, -1)                                                     # (1, G*P)


def text_segment(ids: Sequence[int], empty_ids: Sequence[int] = RELEASE_SPEECH_EMPTY_IDS) -> torch.Tensor:
    """One group per text id; audio rows hold the empty ids. Returns ``[K, P * len(ids)]``."""
    ids = [int(i) for i in ids]
    text = _text_row(ids)                                   # (1, G*P)
    audio = _empty_audio_rows(text.shape[1], empty_ids)     # (C, G*P)
    return torch.cat([text, audio], dim=0)                  # (K, G*P)


def audio_segment(
    codes,
    empty_text_id: int,
    empty_ids: Sequence[int] = RELEASE_SPEECH_EMPTY_IDS,
    *,
    sosp_id: int | None = None,
    eosp_id: int | None = None,
    fit: str = "pad",
) -> torch.Tensor:
    """Audio groups (``<|empty|>`` in row 0, codes below), optionally wrapped in marker groups.

    ``codes``: ``[C>=8, T]``; fitted to a multiple of P frames by ``fit="pad"`` (repeat the last
    frame, the reference's rule) or ``fit="trim"`` (drop the tail, speech continuation).
    ``sosp_id``/``eosp_id``: when given, a group with that text id and empty audio is put
    before/after the audio (both are given for a normal audio segment, neither inside an
    interleaved one). Returns ``[K, T']``.
    """
    codes = check_codes(codes, empty_ids)
    if fit == "pad":
        codes = pad_to_group(codes)
    elif fit == "trim":
        codes = trim_to_group(codes)
    else:
        raise ValueError(f"fit must be 'pad' or 'trim', got {fit!r}")
    n_groups = codes.shape[1] // GROUP_SIZE
    parts = []
    if sosp_id is not None:
        parts.append(text_segment([sosp_id], empty_ids))
    body_text = _text_row([empty_text_id] * n_groups)       # (1, T)
    parts.append(torch.cat([body_text, codes], dim=0))      # (K, T)
    if eosp_id is not None:
        parts.append(text_segment([eosp_id], empty_ids))
    return torch.cat(parts, dim=1)


def interleave_plan(n_text: int, n_groups: int,
                    text_chunk: int = INTERLEAVE_TEXT_TOKENS,
                    audio_chunk: int = INTERLEAVE_AUDIO_GROUPS) -> list[tuple[str, int, int]]:
    """The order of an interleaved segment's body as ``(stream, start, stop)`` slices.

    ``n_text`` text tokens (WITHOUT ``<|eot|>``) are cut into chunks of ``text_chunk``; then
    ``<|eot|>`` joins the last chunk, which may so hold ``text_chunk + 1`` tokens (the
    reference's order, docs/FORMAT.md section 5). Text slices therefore index
    ``text + [eot]``. An empty text is one chunk holding only ``<|eot|>``. ``n_groups`` audio groups are cut into chunks of
    ``audio_chunk`` (no audio counts as one empty chunk, the reference's ``split`` of an empty
    tensor). Chunks alternate text, audio, text, audio... and whichever stream has chunks
    left goes on alone.

    >>> interleave_plan(5, 8)      # one text chunk of 6: five tokens and eot
    [('text', 0, 6), ('audio', 0, 5), ('audio', 5, 8)]
    >>> interleave_plan(6, 13)
    [('text', 0, 5), ('audio', 0, 5), ('text', 5, 7), ('audio', 5, 10), ('audio', 10, 13)]
    """
    def chunks(n: int, size: int) -> list[tuple[int, int]]:
        return [(s, min(s + size, n)) for s in range(0, n, size)] or [(0, 0)]

    texts = chunks(n_text, text_chunk)
    last_start, last_stop = texts[-1]
    texts[-1] = (last_start, last_stop + 1)             # <|eot|> ends the last text chunk
    audios = chunks(n_groups, audio_chunk)
    paired = min(len(texts), len(audios))
    plan: list[tuple[str, int, int]] = []
    for i in range(paired):
        plan += [("text", *texts[i]), ("audio", *audios[i])]
    plan += [("text", *t) for t in texts[paired:]]      # at most one of these two
    plan += [("audio", *a) for a in audios[paired:]]    # tails is non-empty
    return plan


def interleaved_segment(
    text_ids: Sequence[int],
    codes,
    *,
    sostm_id: int,
    eot_id: int,
    eostm_id: int,
    empty_text_id: int,
    empty_ids: Sequence[int] = RELEASE_SPEECH_EMPTY_IDS,
    text_chunk: int = INTERLEAVE_TEXT_TOKENS,
    audio_chunk: int = INTERLEAVE_AUDIO_GROUPS,
) -> torch.Tensor:
    """``<|sostm|>``, alternating text chunks and marker-less audio chunks, ``<|eostm|>``.

    The text is chunked first and ``<|eot|>`` then ends its last chunk (see
    :func:`interleave_plan`); codes are padded to a multiple of P frames. Returns ``[K, T']``.
    """
    codes = pad_to_group(check_codes(codes, empty_ids))
    text_ids = [int(i) for i in text_ids]
    text_and_eot = text_ids + [int(eot_id)]
    n_groups = codes.shape[1] // GROUP_SIZE
    parts = [text_segment([sostm_id], empty_ids)]
    for stream, start, stop in interleave_plan(len(text_ids), n_groups, text_chunk, audio_chunk):
        if stop == start:
            continue
        if stream == "text":
            parts.append(text_segment(text_and_eot[start:stop], empty_ids))
        else:
            chunk = codes[:, start * GROUP_SIZE: stop * GROUP_SIZE]      # (C, groups*P)
            parts.append(audio_segment(chunk, empty_text_id, empty_ids))
    parts.append(text_segment([eostm_id], empty_ids))
    return torch.cat(parts, dim=1)


def concat_segments(segments: Sequence[torch.Tensor]) -> torch.Tensor:
    """Join segments along time; checks every one is ``[K, multiple of P]``."""
    assert segments, "a prompt needs at least one segment"
    for seg in segments:
        assert seg.dim() == 2 and seg.shape[0] == STREAMS and seg.shape[1] % GROUP_SIZE == 0, \
            f"bad segment shape {tuple(seg.shape)}: expected [{STREAMS}, multiple of {GROUP_SIZE}]"
    return torch.cat(list(segments), dim=1)
