"""The one output rule (docs/FORMAT.md section 8): the incremental reader that streams is the one
whose replay is the one-shot extraction, and both agree with the rule written as slices of the
whole output (``output_audio_codes`` / ``output_text_ids`` in tests/helpers.py), group by group."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mimo_core.constants import GROUP_SIZE, LM_CHANNELS
from mimo_core.prompts.extraction import decode_text, extract_output
from mimo_core.tasks.streaming import OutputTracker
from mimo_core.text.special_ids import SpecialIds
from tests.helpers import output_audio_codes, output_text_ids, streamed_codes

IDS = SpecialIds(endoftext=90, im_start=91, im_end=92, sosp=93, eosp=94, empty=95, human=96,
                 speechlm=97, sostm=98, eostm=99, eot=100)
EMPTY_IDS = (1024, 1024, 128, 128, 128, 128, 128, 128)


class FakeTokenizer:
    """Ids below 26 are letters; special ids print as their markup."""

    names = {v: f"<|{k}|>" for k, v in vars(IDS).items()}

    def decode(self, ids, skip_special_tokens=False):
        return "".join(self.names.get(i, chr(ord("a") + i % 26) if i < 26 else " ") for i in ids)


def random_groups(rng, n, p_speech=0.5, p_sostm=0.05, p_eostm=0.03):
    """(text ids, codes (G, P, C)) of a plausible generation."""
    texts, codes = [], []
    for _ in range(n):
        r = rng.random()
        if r < p_speech:
            t = IDS.empty
        elif r < p_speech + p_sostm:
            t = IDS.sostm
        elif r < p_speech + p_sostm + p_eostm:
            t = IDS.eostm
        else:
            t = int(rng.integers(0, 30))
        if t == IDS.empty:
            c = np.stack([rng.integers(0, e, GROUP_SIZE) for e in EMPTY_IDS], axis=1)   # (P, C)
        else:
            c = np.tile(np.array(EMPTY_IDS), (GROUP_SIZE, 1))
        texts.append(t)
        codes.append(torch.as_tensor(c, dtype=torch.long))
    return texts, codes


def new_ids(texts, codes) -> torch.Tensor:
    cols = []
    for t, c in zip(texts, codes):
        group = torch.empty(LM_CHANNELS + 1, GROUP_SIZE, dtype=torch.long)   # (K, P)
        group[0] = t
        group[1:] = c.T
        cols.append(group)
    return torch.cat(cols, dim=1)


@pytest.mark.parametrize("speech_open", [True, False])
@pytest.mark.parametrize("seed", range(25))
def test_tracker_matches_batch_extraction(seed, speech_open):
    rng = np.random.default_rng(seed)
    texts, codes = random_groups(rng, int(rng.integers(1, 40)))
    tracker = OutputTracker(FakeTokenizer(), IDS, EMPTY_IDS, speaks=True, speech_open=speech_open)
    streamed_text = ""
    for t, c in zip(texts, codes):
        update = tracker.push(t, c)
        assert update.audio is None               # no decoder: frames are only recorded
        streamed_text += update.text
    ids = new_ids(texts, codes)
    expected = extract_output(ids, FakeTokenizer(), IDS, EMPTY_IDS)
    last = tracker.finish()
    assert streamed_text + last.text == expected.text == tracker.output().text
    # the rule as slices of the whole output: the same text and codes
    assert expected.text == decode_text(FakeTokenizer(), output_text_ids(ids).tolist())
    assert torch.equal(expected.codes, output_audio_codes(ids, IDS, EMPTY_IDS))
    assert torch.equal(tracker.output().codes, expected.codes)
    if speech_open and tracker.diverged:
        assert IDS.sostm in texts[:-1]            # only a later <|sostm|> can make the live view differ
    else:
        assert torch.equal(streamed_codes(tracker), expected.codes)


def test_reference_quirk_last_group_is_held_back():
    texts = [IDS.empty, IDS.empty, 3]
    _, codes = random_groups(np.random.default_rng(0), 3, p_speech=1.0)
    tracker = OutputTracker(FakeTokenizer(), IDS, EMPTY_IDS, speaks=True, speech_open=True)
    for t, c in zip(texts, codes):
        tracker.push(t, c)
    tracker.finish()
    assert streamed_codes(tracker).shape[1] == 2 * GROUP_SIZE     # the third group never plays
