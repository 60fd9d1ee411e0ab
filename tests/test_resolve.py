"""Model resolution: local dirs, HF repo ids (offline -> one-line ModelLoadError), and "tiny"."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pytest
import torch

from mimo_core import resolve
from mimo_core.errors import ModelLoadError
from mimo_core.resolve import DEFAULT_SPECS, Role, ensure_tiny, resolve_spec, same_spec


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    torch.set_num_threads(2)
    return ensure_tiny(tmp_path_factory.getbasetemp() / "tiny-v1")   # shared with the other task tests


def test_defaults_are_the_official_repos():
    assert DEFAULT_SPECS[Role.INSTRUCT] == "XiaomiMiMo/MiMo-Audio-7B-Instruct"
    assert DEFAULT_SPECS[Role.BASE] == "XiaomiMiMo/MiMo-Audio-7B-Base"
    assert DEFAULT_SPECS[Role.TOKENIZER] == "XiaomiMiMo/MiMo-Audio-Tokenizer"


def test_local_directory_is_used_as_is(tmp_path):
    assert resolve_spec(tmp_path, "instruct") == tmp_path
    assert resolve_spec(str(tmp_path), Role.TOKENIZER) == tmp_path


def test_missing_directory_and_file_are_load_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        resolve_spec(tmp_path / "nope", "base")
    (tmp_path / "f.bin").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="is a file"):
        resolve_spec(tmp_path / "f.bin", "base")


def test_repo_id_goes_to_snapshot_download(monkeypatch, tmp_path):
    seen = []

    def fake(repo_id, **kwargs):
        seen.append(repo_id)
        return str(tmp_path)
    monkeypatch.setattr("huggingface_hub.snapshot_download", fake)
    assert resolve_spec("someone/some-model", "instruct") == tmp_path
    assert resolve_spec(None, "base") == tmp_path                     # None -> the official repo
    assert seen == ["someone/some-model", "XiaomiMiMo/MiMo-Audio-7B-Base"]


def test_unreachable_hub_is_a_one_line_load_error(monkeypatch, tmp_path):
    """No network and nothing cached: a ModelLoadError with a hint, in one line."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import huggingface_hub.constants as hc
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    with pytest.raises(ModelLoadError) as info:
        resolve_spec("XiaomiMiMo/MiMo-Audio-Tokenizer", "tokenizer")
    message = str(info.value)
    assert "\n" not in message and "unreachable" in message and "tiny" in message


def test_same_spec():
    assert same_spec("tiny", "TINY") and not same_spec("tiny", "a/b")
    assert same_spec("a/b", "a/b") and not same_spec("a/b", None)


def test_tiny_layout_vocab_and_warning(tiny_root, caplog):
    from mimo_core.lm.config import MimoLMConfig
    from mimo_core.text import load_text_tokenizer

    lm_dir = tiny_root / "lm"
    tokenizer, ids = load_text_tokenizer(lm_dir)
    config = MimoLMConfig.from_json_file(lm_dir / "config.json")
    assert config.vocab_size >= len(tokenizer) and config.vocab_size % 64 == 0
    assert (lm_dir / "model.safetensors.index.json").is_file()
    assert {p.name for p in (tiny_root / "audio_tokenizer").iterdir()} >= {"config.json", "model.safetensors"}
    os.environ["MIMO_TINY_DIR"] = str(tiny_root)
    try:
        with caplog.at_level(logging.WARNING, logger="mimo_core.resolve"):
            assert resolve_spec("tiny", "base") == lm_dir
            assert resolve_spec("Tiny", "tokenizer") == tiny_root / "audio_tokenizer"
    finally:
        del os.environ["MIMO_TINY_DIR"]
    assert sum("NOISE" in r.getMessage() for r in caplog.records) == 2


def test_tiny_is_deterministic_and_built_once(tiny_root, tmp_path, monkeypatch):
    second = ensure_tiny(tmp_path / "again")
    assert _digest(second) == _digest(tiny_root)
    calls = []
    monkeypatch.setattr(resolve, "_write_tiny_tree", lambda *a: calls.append(a))
    assert ensure_tiny(second) == second and calls == []                 # cached: nothing rebuilt


def test_tiny_build_is_atomic(tmp_path, monkeypatch):
    def broken(out: Path, seed: int) -> None:
        (out / "lm").mkdir()
        (out / "lm" / "config.json").write_text("{}")
        raise OSError("disk full")
    monkeypatch.setattr(resolve, "_write_tiny_tree", broken)
    with pytest.raises(ModelLoadError, match="disk full"):
        ensure_tiny(tmp_path / "tiny-v1")
    assert list(tmp_path.iterdir()) == []                                 # no partial tree, no temp left


def test_fill_specs_one_rule_for_unset_roles():
    from mimo_core.resolve import fill_specs

    official = (DEFAULT_SPECS[Role.INSTRUCT], DEFAULT_SPECS[Role.BASE], DEFAULT_SPECS[Role.TOKENIZER])
    assert fill_specs() == official
    assert fill_specs("/m") == ("/m",) + official[1:]
    assert fill_specs(None, "Tiny") == ("tiny", "Tiny", "tiny")
    assert fill_specs("/m", official=False) == ("/m", None, None)
    assert fill_specs(tokenizer="tiny", official=False) == ("tiny", "tiny", "tiny")
