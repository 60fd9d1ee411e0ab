"""Output extraction rules on hand-made generations (docs/FORMAT.md section 8 + reference quirks)."""

import pytest
import torch

from mimo_core.constants import GROUP_SIZE, STREAMS
from mimo_core.errors import PromptError
from mimo_core.prompts import clean_decoded_text, extract_output
from mimo_core.text.special_ids import SpecialIds
from tests.helpers import output_audio_codes, split_generated

EMPTY_IDS = (30, 31, 5, 5, 5, 5, 5, 5)
IDS = SpecialIds(endoftext=900, im_start=901, im_end=902, sosp=903, eosp=904, empty=905, human=906,
                 speechlm=907, sostm=908, eostm=909, eot=910)


class FakeTokenizer:
    """Decodes each id as <id>, special ones by name: enough to see which ids were decoded."""

    names = {v: f"<|{k}|>" for k, v in vars(IDS).items()}

    def decode(self, ids, skip_special_tokens=False):
        assert skip_special_tokens is False
        return "".join(self.names.get(i, f"<{i}>") for i in ids)


def generated(groups):
    """Build generated groups from (text_id, frame_code_or_None) pairs: text id repeated in row 0,
    audio rows either 4 frames of codes (code + frame index) or the empty ids."""
    cols = []
    for text_id, code in groups:
        block = torch.empty(STREAMS, GROUP_SIZE, dtype=torch.long)   # (K, P)
        block[0] = text_id
        if code is None:
            block[1:] = torch.tensor(EMPTY_IDS)[:, None]
        else:
            block[1:] = (code + torch.arange(GROUP_SIZE))[None, :] % 5
        cols.append(block)
    return torch.cat(cols, dim=1)


def frames_of(codes):
    return codes[0].tolist()


def test_last_group_dropped_from_text_and_audio():
    new = generated([(IDS.empty, 1), (IDS.empty, 2), (11, None), (IDS.endoftext, None)])
    out = extract_output(new, FakeTokenizer(), IDS, EMPTY_IDS)
    assert out.text_ids == [IDS.empty, IDS.empty, 11]
    assert out.text == "<11>"
    assert out.codes.shape == (8, 8)
    # at max length (no stop token) the reference still drops the last group...
    new = generated([(IDS.empty, 1), (12, None), (IDS.empty, 3)])
    out = extract_output(new, FakeTokenizer(), IDS, EMPTY_IDS)
    assert out.text == "<12>" and out.codes.shape == (8, 4)
    # ...unless asked to keep it
    kept = extract_output(new, FakeTokenizer(), IDS, EMPTY_IDS, keep_last_group=True)
    assert kept.codes.shape == (8, 8) and kept.text_ids[-1] == IDS.empty


def test_audio_window_after_first_sostm_until_first_eostm():
    new = generated([(IDS.empty, 0), (IDS.sostm, None), (IDS.empty, 1), (IDS.empty, 2), (IDS.eostm, None),
                     (IDS.empty, 3), (IDS.sostm, None), (IDS.empty, 4), (IDS.im_end, None)])
    codes = output_audio_codes(new, IDS, EMPTY_IDS)
    assert codes.shape == (8, 8)
    assert torch.equal(codes, new[1:, 2 * GROUP_SIZE:4 * GROUP_SIZE])


def test_stop_group_is_not_searched_for_markers():
    """A <|sostm|> in the dropped last group does not move the audio window."""
    new = generated([(IDS.empty, 1), (IDS.sostm, None)])
    assert output_audio_codes(new, IDS, EMPTY_IDS).shape == (8, 4)


def test_text_groups_inside_the_window_are_dropped_and_silence_flagged():
    new = generated([(IDS.sostm, None), (7, None), (IDS.empty, 2), (8, None), (IDS.endoftext, None)])
    out = extract_output(new, FakeTokenizer(), IDS, EMPTY_IDS)
    assert out.codes.shape == (8, 4) and not out.is_silence
    silent = extract_output(generated([(7, None), (IDS.endoftext, None)]), FakeTokenizer(), IDS, EMPTY_IDS)
    assert silent.is_silence and silent.codes.shape == (8, 0) and silent.codes.dtype == torch.long


def test_clean_text_keeps_other_specials_and_strips_before_removing():
    assert clean_decoded_text(" <|empty|>Hi<|eot|> there<|eostm|><|eosp|> ") == "Hi there<|eosp|>"
    # strip happens first: spaces exposed by the removal stay
    assert clean_decoded_text("<|empty|> Hi ") == " Hi"


def test_shape_errors():
    with pytest.raises(PromptError):
        extract_output(torch.zeros(9, 6, dtype=torch.long), FakeTokenizer(), IDS, EMPTY_IDS)
    with pytest.raises(AssertionError):
        split_generated(torch.zeros(9, 16, dtype=torch.long), 6)
    assert split_generated(torch.zeros(9, 16, dtype=torch.long), 8).shape == (9, 8)
