"""Output extraction reproduces every golden's text, decoded codes and silence flag."""

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import requires_fixtures
from tests.helpers import split_generated
from mimo_core.prompts import extract_output
from mimo_core.text.special_ids import load_text_tokenizer
from tests.test_prompts_golden import PRECISIONS, _task_names

pytestmark = requires_fixtures


@pytest.fixture(scope="module")
def text_tokenizer(fixtures_dir):
    return load_text_tokenizer(fixtures_dir / "checkpoints" / "lm")


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("name", _task_names())
def test_extraction_matches_golden(text_tokenizer, manifest, fixtures_dir, name, precision):
    tokenizer, special = text_tokenizer
    info = manifest["lm_tasks"][name][precision]
    golden = load_file(fixtures_dir / "goldens" / "lm" / precision / f"{name}.safetensors")
    new = split_generated(golden["generated_ids"], golden["prompt_ids"].shape[1])
    assert new.shape[1] // 4 == info["new_groups"]
    out = extract_output(new, tokenizer, special)

    assert out.text == info["text"]
    if "output_codes" in golden:
        assert torch.equal(out.codes, golden["output_codes"])
        assert not out.is_silence
    if info["output_wav_samples"] is not None:      # the task asked for audio
        assert out.is_silence == info["output_wav_is_reference_silence"]
        expected_frames = info["output_codes_frames"] or 0
        assert out.codes.shape == (8, expected_frames)


def test_at_least_one_golden_is_reference_silence(manifest):
    """The silence branch is really exercised by the loop above."""
    flags = [manifest["lm_tasks"][n][p]["output_wav_is_reference_silence"]
             for n in manifest["lm_tasks"] for p in PRECISIONS]
    assert any(flags) and not all(flags)
