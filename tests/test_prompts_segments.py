"""Pure segment helpers: layout, padding vs trimming, interleave chunking edge cases."""

import pytest
import torch

from mimo_core.constants import GROUP_SIZE, STREAMS, TEXT_FILLER
from mimo_core.errors import PromptError
from mimo_core.prompts.segments import (RELEASE_SPEECH_EMPTY_IDS, audio_segment, check_codes,
                                        concat_segments, interleave_plan, interleaved_segment,
                                        pad_to_group, parse_empty_ids, text_segment, trim_to_group)

# Made-up ids, deliberately unlike the release, so that no helper can lean on literals.
EMPTY_IDS = (50, 51, 9, 9, 9, 9, 9, 7)
SOSP, EOSP, EMPTY, SOSTM, EOT, EOSTM = 901, 902, 903, 904, 905, 906


def codes_of(frames: int) -> torch.Tensor:
    """[8, frames] codes whose value encodes (channel, frame) and stays below EMPTY_IDS."""
    ch = torch.arange(8)[:, None]
    fr = torch.arange(frames)[None, :]
    return (ch + 1 + fr) % torch.tensor(EMPTY_IDS)[:, None]


def groups_text(matrix):
    return matrix[0, ::GROUP_SIZE].tolist()


def test_release_empty_ids_come_from_config_string():
    assert RELEASE_SPEECH_EMPTY_IDS == parse_empty_ids("1024-1024-128-128-128-128-128-128")
    assert parse_empty_ids([1, 2, 3, 4, 5, 6, 7, 8]) == (1, 2, 3, 4, 5, 6, 7, 8)
    with pytest.raises(PromptError):
        parse_empty_ids("1024-1024")
    with pytest.raises(PromptError):
        parse_empty_ids("a-b-c-d-e-f-g-h")


def test_text_segment_layout():
    seg = text_segment([11, 12, 13], EMPTY_IDS)
    assert seg.shape == (STREAMS, 3 * GROUP_SIZE) and seg.dtype == torch.long
    assert groups_text(seg) == [11, 12, 13]
    fillers = seg[0].view(3, GROUP_SIZE)[:, 1:]                 # (groups, P-1)
    assert (fillers == TEXT_FILLER).all()
    assert torch.equal(seg[1:], torch.tensor(EMPTY_IDS)[:, None].expand(-1, 3 * GROUP_SIZE))
    assert text_segment([], EMPTY_IDS).shape == (STREAMS, 0)


def test_audio_segment_with_markers_pads_by_repeating_last_frame():
    codes = codes_of(6)                                          # 6 frames -> padded to 8
    seg = audio_segment(codes, EMPTY, EMPTY_IDS, sosp_id=SOSP, eosp_id=EOSP)
    assert seg.shape == (STREAMS, 4 * GROUP_SIZE)               # sosp, 2 audio groups, eosp
    assert groups_text(seg) == [SOSP, EMPTY, EMPTY, EOSP]
    body = seg[1:, GROUP_SIZE:3 * GROUP_SIZE]
    assert torch.equal(body[:, :6], codes)
    assert torch.equal(body[:, 6], codes[:, 5]) and torch.equal(body[:, 7], codes[:, 5])
    assert (seg[1:, :GROUP_SIZE] == torch.tensor(EMPTY_IDS)[:, None]).all()
    assert (seg[1:, -GROUP_SIZE:] == torch.tensor(EMPTY_IDS)[:, None]).all()
    assert (seg[0].view(-1, GROUP_SIZE)[:, 1:] == TEXT_FILLER).all()


def test_audio_segment_without_markers_and_trim():
    codes = codes_of(11)
    trimmed = audio_segment(codes, EMPTY, EMPTY_IDS, fit="trim")
    assert trimmed.shape == (STREAMS, 8) and groups_text(trimmed) == [EMPTY, EMPTY]
    assert torch.equal(trimmed[1:], codes[:, :8])
    padded = audio_segment(codes, EMPTY, EMPTY_IDS)
    assert padded.shape == (STREAMS, 12)
    with pytest.raises(AssertionError, match="at least 4"):   # planning refuses such audio first
        audio_segment(codes_of(3), EMPTY, EMPTY_IDS, fit="trim")


def test_pad_and_trim_are_noops_on_whole_groups():
    codes = codes_of(8)
    assert pad_to_group(codes) is codes
    assert torch.equal(trim_to_group(codes), codes)


def test_check_codes_rejects_bad_input_and_keeps_channels_0_to_7():
    twenty = torch.cat([codes_of(5), torch.full((12, 5), 3)], dim=0)    # tokenizer's [20, T]
    assert torch.equal(check_codes(twenty, EMPTY_IDS), codes_of(5))
    for bad, msg in [(torch.zeros(8), r"\[C>=8, T\]"), (torch.zeros(7, 4, dtype=torch.long), r"\[C>=8, T\]"),
                     (torch.zeros(8, 4), "integers"), (torch.zeros(8, 0, dtype=torch.long), "empty")]:
        with pytest.raises(AssertionError, match=msg):       # a precondition: planning checked the input
            check_codes(bad, EMPTY_IDS)
    at_empty = codes_of(4)
    at_empty[7, 2] = EMPTY_IDS[7]                                 # the empty id is not a code
    with pytest.raises(AssertionError, match="out of range"):
        check_codes(at_empty, EMPTY_IDS)
    with pytest.raises(AssertionError, match="out of range"):
        check_codes(codes_of(4) - 100, EMPTY_IDS)


# Spec 5 (interleaved): the text WITHOUT <|eot|> is cut into chunks of 5 tokens, then <|eot|>
# is appended to the last chunk (which may so hold 6); an empty text is one chunk holding
# only <|eot|>. The plan's text slices index ``text + [eot]``. Expected plans below are
# written out by hand from that rule, for 8 audio groups (chunks of 5 and 3).
@pytest.mark.parametrize("n_text, expected", [
    (0, [("text", 0, 1), ("audio", 0, 5), ("audio", 5, 8)]),
    (1, [("text", 0, 2), ("audio", 0, 5), ("audio", 5, 8)]),
    (4, [("text", 0, 5), ("audio", 0, 5), ("audio", 5, 8)]),
    (5, [("text", 0, 6), ("audio", 0, 5), ("audio", 5, 8)]),
    (6, [("text", 0, 5), ("audio", 0, 5), ("text", 5, 7), ("audio", 5, 8)]),
    (10, [("text", 0, 5), ("audio", 0, 5), ("text", 5, 11), ("audio", 5, 8)]),
    (11, [("text", 0, 5), ("audio", 0, 5), ("text", 5, 10), ("audio", 5, 8), ("text", 10, 12)]),
])
def test_interleave_plan_appends_eot_after_chunking(n_text, expected):
    assert interleave_plan(n_text, 8) == expected


@pytest.mark.parametrize("n_text, n_groups, expected", [
    # the golden assistant turn: 6 text tokens (+ eot), 13 audio groups
    (6, 13, [("text", 0, 5), ("audio", 0, 5), ("text", 5, 7), ("audio", 5, 10), ("audio", 10, 13)]),
    # exactly one chunk each: 4 tokens + eot, 5 groups
    (4, 5, [("text", 0, 5), ("audio", 0, 5)]),
    # text longer: it goes on alone after the audio runs out
    (11, 3, [("text", 0, 5), ("audio", 0, 3), ("text", 5, 10), ("text", 10, 12)]),
    # no audio: one empty audio chunk keeps the alternation
    (2, 0, [("text", 0, 3), ("audio", 0, 0)]),
])
def test_interleave_plan(n_text, n_groups, expected):
    assert interleave_plan(n_text, n_groups) == expected


def _interleave(text_ids, frames):
    return interleaved_segment(text_ids, codes_of(frames), sostm_id=SOSTM, eot_id=EOT, eostm_id=EOSTM,
                               empty_text_id=EMPTY, empty_ids=EMPTY_IDS)


def test_interleaved_segment_layout():
    text = [101, 102, 103, 104, 105, 106]                     # 6 tokens + eot = 7
    seg = _interleave(text, 50)                                # 50 frames -> padded to 52 = 13 groups
    expected = ([SOSTM] + text[:5] + [EMPTY] * 5 + [106, EOT] + [EMPTY] * 8 + [EOSTM])
    assert groups_text(seg) == expected
    audio_cols = seg[1:, seg[0] != TEXT_FILLER]                 # first column of every group
    assert audio_cols.shape[1] == len(expected)
    frames = seg[1:, (seg[0].view(-1, GROUP_SIZE)[:, 0] == EMPTY).repeat_interleave(GROUP_SIZE)]
    padded = pad_to_group(codes_of(50))
    assert torch.equal(frames, padded)                          # every frame, in order, once


A = EMPTY   # an audio group's text id, for the hand-written layouts below


# Group text ids of an interleaved segment of n text tokens (1, 2, ... n) and 8 audio groups
# (32 frames), written out by hand from docs/FORMAT.md section 5: sostm, 5 text, 5 audio, 5 text, 3 audio, ...,
# <|eot|> ending the last text chunk, eostm.
@pytest.mark.parametrize("n_text, expected", [
    (0, [SOSTM, EOT, A, A, A, A, A, A, A, A, EOSTM]),
    (1, [SOSTM, 1, EOT, A, A, A, A, A, A, A, A, EOSTM]),
    (4, [SOSTM, 1, 2, 3, 4, EOT, A, A, A, A, A, A, A, A, EOSTM]),
    (5, [SOSTM, 1, 2, 3, 4, 5, EOT, A, A, A, A, A, A, A, A, EOSTM]),
    (6, [SOSTM, 1, 2, 3, 4, 5, A, A, A, A, A, 6, EOT, A, A, A, EOSTM]),
    (10, [SOSTM, 1, 2, 3, 4, 5, A, A, A, A, A, 6, 7, 8, 9, 10, EOT, A, A, A, EOSTM]),
    (11, [SOSTM, 1, 2, 3, 4, 5, A, A, A, A, A, 6, 7, 8, 9, 10, A, A, A, 11, EOT, EOSTM]),
])
def test_interleaved_segment_hand_written_layouts(n_text, expected):
    seg = _interleave(list(range(1, n_text + 1)), 32)
    assert groups_text(seg) == expected
    audio_groups = (seg[0].view(-1, GROUP_SIZE)[:, 0] == A).repeat_interleave(GROUP_SIZE)
    assert torch.equal(seg[1:, audio_groups], codes_of(32))     # every frame, in order, once
    assert (seg[1:, ~audio_groups] == torch.tensor(EMPTY_IDS)[:, None]).all()


def test_concat_segments_checks_shapes():
    a = text_segment([1], EMPTY_IDS)
    assert concat_segments([a, a]).shape == (STREAMS, 8)
    with pytest.raises(AssertionError, match="at least one segment"):
        concat_segments([])
    with pytest.raises(AssertionError, match="bad segment shape"):
        concat_segments([a[:, :3]])
