"""The tiny demo text tokenizer: deterministic, loadable, with the MiMo special tokens."""

import pytest

from tests.conftest import FIXTURES, fixtures_available
from mimo_core.constants import MIMO_SPECIAL_TOKENS
from mimo_core.errors import ModelLoadError
from mimo_core.text.special_ids import load_text_tokenizer
from mimo_core.text.tiny_tokenizer import CHAT_TOKENS, write_tiny_text_tokenizer


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return write_tiny_text_tokenizer(tmp_path_factory.mktemp("tiny"))


def test_written_files_are_identical_across_runs(tiny_dir, tmp_path):
    again = write_tiny_text_tokenizer(tmp_path / "again")
    names = sorted(p.name for p in tiny_dir.iterdir())
    assert "tokenizer.json" in names and names == sorted(p.name for p in again.iterdir())
    for name in names:
        assert (tiny_dir / name).read_bytes() == (again / name).read_bytes(), name


def test_auto_tokenizer_and_loader(tiny_dir):
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(tiny_dir))
    _, special = load_text_tokenizer(tiny_dir)
    vocab = tok.get_vocab()
    assert 1000 < len(tok) < 5000
    for i, token in enumerate(CHAT_TOKENS + MIMO_SPECIAL_TOKENS):   # added last (docs/FORMAT.md section 4)
        assert vocab[token] == len(tok) - len(CHAT_TOKENS + MIMO_SPECIAL_TOKENS) + i
    assert special.sosp == vocab["<|sosp|>"] and special.endoftext == tok.eos_token_id
    assert set(special.control_ids()) <= set(tok.all_special_ids)


@pytest.mark.parametrize("text", ["Hello world, this is a tiny test.", "今天天气真好，我们去公园吧。",
                                  "Zebras & émigrés 😀 \t\n 12345"])
def test_roundtrip_and_specials(tiny_dir, text):
    tok, special = load_text_tokenizer(tiny_dir)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text
    assert tok(text + "<|sostm|>", add_special_tokens=False)["input_ids"] == ids + [special.sostm]


@pytest.mark.skipif(not fixtures_available(), reason=f"golden fixtures not found at {FIXTURES}")
def test_loader_on_fixture_tokenizer(manifest):
    _, special = load_text_tokenizer(FIXTURES / "checkpoints" / "lm")
    field_of = {"<|endoftext|>": "endoftext", "<|im_start|>": "im_start", "<|im_end|>": "im_end",
                "<|sosp|>": "sosp", "<|eosp|>": "eosp", "<|empty|>": "empty", "<|Human|>": "human",
                "<|SpeechLM|>": "speechlm", "<|sostm|>": "sostm", "<|eostm|>": "eostm", "<|eot|>": "eot"}
    assert set(field_of) == set(manifest["special_ids"])
    for token, value in manifest["special_ids"].items():
        assert getattr(special, field_of[token]) == value, token

def test_loader_error_is_one_line(tmp_path):
    with pytest.raises(ModelLoadError, match="cannot load the text tokenizer"):
        load_text_tokenizer(tmp_path / "missing")
