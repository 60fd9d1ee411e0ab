"""Loading: the sharded fixture checkpoint unchanged, the tiny writer, strict key errors."""

import json
import time

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from mimo_core.errors import CheckpointMismatchError, DeviceError, ModelLoadError
from mimo_core.lm import MimoAudioLM, MimoLMConfig, load_mimo_lm
from mimo_core.lm.tiny import write_tiny_lm
from tests.conftest import requires_fixtures

TINY_VOCAB = 320


@requires_fixtures
def test_fixture_checkpoint_loads_unchanged(fixtures_dir):
    ckpt = fixtures_dir / "checkpoints" / "lm"
    model = load_mimo_lm(ckpt, dtype=torch.float32)
    assert isinstance(model, MimoAudioLM)
    state = model.state_dict()
    weight_map = json.loads((ckpt / "model.safetensors.index.json").read_text())["weight_map"]
    assert set(state) == set(weight_map)
    assert len(set(weight_map.values())) == 2                  # really sharded
    for shard in sorted(set(weight_map.values())):
        with safe_open(str(ckpt / shard), framework="pt") as f:
            for key in f.keys():
                stored = f.get_tensor(key)
                assert stored.dtype == torch.bfloat16
                assert torch.equal(state[key], stored.float()), key   # bf16 -> fp32 is exact
    assert model.num_parameters() == 19_734_272
    assert model.config.input_dim == model.config.local_dim == 32
    for stack in model.stacks():
        assert stack.rotary_emb.inv_freq.dtype == torch.float32
        assert stack.config._attn_implementation == "sdpa"          # "auto" on CPU


@requires_fixtures
def test_bf16_load_keeps_rotary_tables_in_float32(fixtures_dir):
    model = load_mimo_lm(fixtures_dir / "checkpoints" / "lm", dtype="bfloat16")
    assert model.dtype == torch.bfloat16
    inv = model.local_transformer.rotary_emb.inv_freq
    assert inv.dtype == torch.float32
    head_dim = model.local_transformer.config.head_dim
    expected = 1.0 / (640000.0 ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    assert torch.equal(inv, expected)
    model.float()                                                       # casting keeps them fp32 too
    assert model.model.rotary_emb.inv_freq.dtype == torch.float32


def test_tiny_writer_is_deterministic_and_in_the_official_format(tmp_path):
    a = write_tiny_lm(tmp_path / "a", vocab_size=TINY_VOCAB, seed=3)
    b = write_tiny_lm(tmp_path / "b", vocab_size=TINY_VOCAB, seed=3)
    c = write_tiny_lm(tmp_path / "c", vocab_size=TINY_VOCAB, seed=4)
    index = json.loads((a / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert shards == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    for shard in shards:
        assert (a / shard).read_bytes() == (b / shard).read_bytes()
    assert load_file(str(a / shards[0])).keys() and (a / shards[0]).read_bytes() != (c / shards[0]).read_bytes()
    config = json.loads((a / "config.json").read_text())
    assert config["model_type"] == "qwen2"
    assert config["speech_vocab_size"] == "1025-1025-129-129-129-129-129-129"
    assert config["speech_zeroemb_idx"] == "1024-1024-128-128-128-128-128-128"
    assert config["delay_pattern"] == "0-1-2-3-4-5-6-7"
    assert config["vocab_size"] == TINY_VOCAB
    model = load_mimo_lm(a)
    assert torch.all(model.speech_embeddings[0].weight[1024] == 0)
    assert MimoLMConfig.from_json_file(a / "config.json").to_dict() == config


def _corrupt(tmp_path, edit, shard_of="lm_head.weight"):
    ckpt = write_tiny_lm(tmp_path / "ckpt", vocab_size=TINY_VOCAB, seed=0)
    index_file = ckpt / "model.safetensors.index.json"
    index = json.loads(index_file.read_text())
    shard = ckpt / index["weight_map"][shard_of]
    tensors = load_file(str(shard))
    edit(tensors, index["weight_map"])
    save_file(tensors, str(shard))
    index_file.write_text(json.dumps(index))
    return ckpt


def test_missing_key_is_named(tmp_path):
    def drop(tensors, weight_map):
        del tensors["lm_head.weight"]
        del weight_map["lm_head.weight"]
    with pytest.raises(CheckpointMismatchError, match=r"missing 1: lm_head\.weight"):
        load_mimo_lm(_corrupt(tmp_path, drop))


def test_unexpected_key_is_named(tmp_path):
    def add(tensors, weight_map):
        tensors["speech_embeddings_to_local.weight"] = torch.zeros(32, 32, dtype=torch.bfloat16)
        weight_map["speech_embeddings_to_local.weight"] = weight_map["lm_head.weight"]
    with pytest.raises(CheckpointMismatchError, match=r"unexpected 1: speech_embeddings_to_local\.weight"):
        load_mimo_lm(_corrupt(tmp_path, add))


def test_shape_mismatch_is_named(tmp_path):
    def reshape(tensors, _weight_map):
        tensors["lm_head.weight"] = tensors["lm_head.weight"][:-1].contiguous()
    with pytest.raises(CheckpointMismatchError, match=r"shape mismatch 1: lm_head\.weight \(319, 64\) vs \(320, 64\)"):
        load_mimo_lm(_corrupt(tmp_path, reshape))


def test_single_file_checkpoint_loads(tmp_path):
    ckpt = write_tiny_lm(tmp_path / "one", vocab_size=TINY_VOCAB, seed=1, shards=1)
    (ckpt / "model.safetensors.index.json").unlink()
    (ckpt / "model-00001-of-00001.safetensors").rename(ckpt / "model.safetensors")
    model = load_mimo_lm(ckpt)
    assert model.lm_head.weight.shape == (TINY_VOCAB, 64)


def test_missing_directory_and_unreachable_repo_are_load_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_mimo_lm(tmp_path / "nowhere" / "lm")
    start = time.monotonic()
    with pytest.raises(ModelLoadError, match="cannot download"):
        load_mimo_lm("mimo-studio-tests/no-such-repo")
    assert time.monotonic() - start < 60


def test_unavailable_device_or_backend_is_a_device_error(tmp_path):
    ckpt = write_tiny_lm(tmp_path / "ckpt", vocab_size=TINY_VOCAB)
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA"):
            load_mimo_lm(ckpt, device="cuda")
        with pytest.raises(DeviceError, match="flash_attention_2"):
            load_mimo_lm(ckpt, attn="flash_attention_2")
    with pytest.raises(DeviceError, match="dtype"):
        load_mimo_lm(ckpt, dtype="float8")
    eager = load_mimo_lm(ckpt, attn="eager")
    assert eager.model.config._attn_implementation == "eager"


def test_dashed_config_lists_parse_one_way():
    from mimo_core.config_io import parse_dashed_ints
    from mimo_core.errors import PromptError

    assert parse_dashed_ints("1025-1025-129", 3) == (1025, 1025, 129)
    assert parse_dashed_ints(4, 3) == parse_dashed_ints("4", 3) == (4, 4, 4)
    assert parse_dashed_ints([1, 2, 3], 3) == (1, 2, 3)
    with pytest.raises(ModelLoadError, match="2 entries, expected 3"):
        parse_dashed_ints("1-2", 3)
    with pytest.raises(PromptError, match="cannot parse empty ids"):
        parse_dashed_ints("a-b-c", 3, "empty ids", PromptError)
