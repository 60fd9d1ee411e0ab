"""Fusion at load time (lm/fusion.py, lm/loading.py): the loaded weights are the checkpoint's bits,
the fused members are views of one tensor per group from the start, the fast decoder reuses those
tensors, a bf16 model's resident memory does not grow by the fused weights, and a shard cut short
is one readable error."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from mimo_core.engine.batch import BatchDecoder
from mimo_core.errors import ModelLoadError
from mimo_core.lm import load_mimo_lm
from mimo_core.lm import loading
from mimo_core.lm.file_reads import read_header
from mimo_core.lm.fusion import find_fused, fusion_groups, members
from mimo_core.lm.tiny import write_tiny_lm
from tests.conftest import FIXTURES, fixtures_available

ROOT = Path(__file__).resolve().parents[1]
TINY_VOCAB = 320
EMPTY_TEXT_ID = 7                      # any text id: the decoder's tensors do not depend on it
BITS = {torch.bfloat16: torch.int16, torch.float32: torch.int32}
SOURCES = ["tiny", pytest.param("fixture", marks=pytest.mark.skipif(
    not fixtures_available(), reason=f"golden fixtures not found at {FIXTURES}"))]


def _checkpoint(source: str, tmp_path: Path) -> Path:
    if source == "fixture":
        return FIXTURES / "checkpoints" / "lm"
    return write_tiny_lm(tmp_path / "tiny", vocab_size=TINY_VOCAB, seed=5)


def _stored(ckpt: Path) -> dict[str, torch.Tensor]:
    weight_map = json.loads((ckpt / "model.safetensors.index.json").read_text())["weight_map"]
    out = {}
    for shard in sorted(set(weight_map.values())):
        with safe_open(str(ckpt / shard), framework="pt") as handle:
            out.update({key: handle.get_tensor(key) for key in handle.keys()})
    return out


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.view(BITS[a.dtype]), b.view(BITS[b.dtype]))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("source", SOURCES)
def test_loaded_state_dict_is_the_checkpoint_bit_for_bit(source, dtype, tmp_path):
    ckpt = _checkpoint(source, tmp_path)
    state, stored = load_mimo_lm(ckpt, dtype=dtype).state_dict(), _stored(ckpt)
    assert set(state) == set(stored)
    for key, tensor in stored.items():
        assert tensor.dtype == torch.bfloat16
        assert _same_bits(state[key], tensor.to(dtype)), key          # bf16 -> fp32 is exact


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)")
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_loaded_state_dict_on_cuda_is_the_checkpoint_bit_for_bit(dtype, tmp_path):
    """On another device the members go through a CPU temporary then ``copy_`` (the fused path)."""
    ckpt = _checkpoint("tiny", tmp_path)
    state, stored = load_mimo_lm(ckpt, device="cuda", dtype=dtype).state_dict(), _stored(ckpt)
    for key, tensor in stored.items():
        assert state[key].is_cuda and _same_bits(state[key].cpu(), tensor.to(dtype)), key


def test_quantized_loads_keep_the_unfused_path(tmp_path, monkeypatch):
    """``quantize=`` replaces the Linears' weights one by one after loading, so the loader fuses
    nothing then (quantization itself, needing torchao, is tests/test_quantize.py)."""
    import mimo_core.lm.quantize as quantize

    quantized = []
    monkeypatch.setattr(quantize, "quantize_lm", lambda model, mode: quantized.append(mode) or model)
    ckpt = _checkpoint("tiny", tmp_path)
    model = load_mimo_lm(ckpt, dtype=torch.bfloat16, quantize="int8")
    assert quantized == ["int8"]
    assert all(find_fused(members(model, g), g.params) is None for g in fusion_groups(model))
    stored = _stored(ckpt)
    assert all(_same_bits(t, stored[k]) for k, t in model.state_dict().items())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("source", SOURCES)
def test_members_are_views_of_one_fused_tensor_right_after_loading(source, dtype, tmp_path):
    ckpt = _checkpoint(source, tmp_path)
    model, stored = load_mimo_lm(ckpt, dtype=dtype), _stored(ckpt)
    cfg = model.config
    groups = fusion_groups(model)
    layers = cfg.num_hidden_layers + cfg.local_layers + cfg.input_local_layers
    assert len(groups) == 2 * layers + 2                               # qkv + gate_up per layer, table, heads
    for group in groups:
        found = find_fused(members(model, group), group.params)
        assert found is not None, group.name
        for param, fused in zip(group.params, found):
            originals = [stored[key].to(dtype) for key in group.keys(param)]
            views = [getattr(m, param) for m in members(model, group)]
            for view in views:
                assert view.untyped_storage().data_ptr() == fused.untyped_storage().data_ptr(), group.name
            if group.padded:                                           # (C, V_max, Dl), zero past each vocabulary
                expected = torch.zeros_like(fused)
                for c, tensor in enumerate(originals):
                    expected[c, : tensor.shape[0]] = tensor
            else:
                expected = torch.cat(originals)
            assert _same_bits(fused, expected), (group.name, param)
            assert fused.untyped_storage().nbytes() == fused.numel() * fused.element_size()   # its own storage


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_building_the_fast_decoder_makes_no_new_fused_copy(dtype, tmp_path):
    model = load_mimo_lm(_checkpoint("tiny", tmp_path), dtype=dtype)
    groups = fusion_groups(model)
    before = {g.name: [f.data_ptr() for f in find_fused(members(model, g), g.params)] for g in groups}
    params_before = [p.data_ptr() for p in model.parameters()]
    decoder = BatchDecoder(model, EMPTY_TEXT_ID, context_groups=16, max_batch=2)
    assert [p.data_ptr() for p in model.parameters()] == params_before
    backbone = [g for g in groups if g.name.startswith("model.layers.")]
    for i, layer in enumerate(decoder.backbone_plan.layers):
        assert layer.qkv.weight.data_ptr() == before[backbone[2 * i].name][0]          # (in, out) view of it
        assert layer.qkv.bias.data_ptr() == before[backbone[2 * i].name][1]
        assert layer.gate_up.weight.data_ptr() == before[backbone[2 * i + 1].name][0]
    assert decoder.fused.speech_table.data_ptr() == before["speech_embeddings.fused"][0]
    assert decoder.fused.heads.data_ptr() == before["local_transformer_lm_heads.padded"][0]


def test_a_moved_model_is_fused_again_for_its_new_weights(tmp_path):
    """After ``.float()`` the load-time views are gone: the mark no longer matches, and the
    decoder fuses the new weights (values unchanged), never returning the old tensors."""
    model = load_mimo_lm(_checkpoint("tiny", tmp_path), dtype=torch.bfloat16)
    heads = next(g for g in fusion_groups(model) if g.padded)
    old = find_fused(members(model, heads), heads.params)[0].float()
    model.float()
    assert find_fused(members(model, heads), heads.params) is None
    decoder = BatchDecoder(model, EMPTY_TEXT_ID, context_groups=16, max_batch=1)
    assert decoder.fused.heads.dtype == torch.float32 and torch.equal(decoder.fused.heads, old)
    assert find_fused(members(model, heads), heads.params)[0].data_ptr() == decoder.fused.heads.data_ptr()


FUSED_MEMBER = "model.layers.1.mlp.up_proj.weight"


def _cut_member(ckpt: Path) -> None:
    """Truncate the shard holding FUSED_MEMBER in the middle of that tensor's bytes."""
    weight_map = json.loads((ckpt / "model.safetensors.index.json").read_text())["weight_map"]
    shard = ckpt / weight_map[FUSED_MEMBER]
    entry = read_header(shard)[FUSED_MEMBER]
    os.truncate(shard, entry.start + entry.nbytes // 2)


def test_a_shard_cut_inside_a_fused_member_is_one_readable_error(tmp_path):
    ckpt = _checkpoint("tiny", tmp_path)
    _cut_member(ckpt)
    with pytest.raises(ModelLoadError) as err:
        load_mimo_lm(ckpt, dtype=torch.bfloat16)
    assert "\n" not in str(err.value) and ckpt.name in str(err.value)


def test_a_shard_cut_after_the_checks_is_caught_by_the_member_reads(tmp_path, monkeypatch):
    """The file reads themselves refuse a short shard (the file changed after the key checks)."""
    ckpt = _checkpoint("tiny", tmp_path)
    check_keys = loading.check_keys

    def check_then_cut(*args):
        check_keys(*args)
        _cut_member(ckpt)
    monkeypatch.setattr(loading, "check_keys", check_then_cut)
    with pytest.raises(ModelLoadError, match=rf"{re.escape(FUSED_MEMBER)} .* is cut short") as err:
        load_mimo_lm(ckpt, dtype=torch.bfloat16)
    assert "\n" not in str(err.value)


# ---- resident memory: a fresh process, as bench/bench_fastpath.py measures it ----------------
# A model whose fused groups (q/k/v, gate/up) are most of its bytes. Loaded in bf16 (the file's
# dtype), main's loader left them memory-mapped and building the decoder copied them into new
# anonymous memory: +40.5 MB on this model's 61.3 MB weights, resident growth over load + build
# 1.67x the weights (measured). Fused at load, the build added +0.0 MB (KV caches 0.13 MB) and
# load + build 1.06x the weights.
MEMORY_CONFIG = dict(hidden_size=512, num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=4,
                     head_dim=64, intermediate_size=2048)
BUILD_BOUND = 0.03             # decoder build: anonymous growth under caches + 3 % of the weights
TOTAL_BOUND = 1.10             # load + build: resident growth under 1.1x the weights
MEASURE = """
import re, sys, torch
from mimo_core.lm import load_mimo_lm
from mimo_core.engine.batch import BatchDecoder
def rss():
    text = open('/proc/self/status').read()
    return [1024 * int(re.search(k + r':\\s+(\\d+)', text).group(1)) for k in ('RssAnon', 'RssFile')]
empty = int(sys.argv[3])
BatchDecoder(load_mimo_lm(sys.argv[2], dtype='bfloat16'), empty, 16, 1)   # warm-up: lazy imports, allocator
start = rss()
model = load_mimo_lm(sys.argv[1], dtype='bfloat16')
for p in model.parameters():
    p.detach().reshape(-1)[::256].sum()            # touch every page of every weight
loaded = rss()
decoder = BatchDecoder(model, empty, 16, 1)
built = rss()
size = sum(p.numel() * p.element_size() for p in model.parameters())
print(*start, *loaded, *built, size, decoder.cache.nbytes() + decoder.local_cache.nbytes())
"""


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads RssAnon/RssFile from /proc (Linux)")
def test_fusing_does_not_grow_a_bf16_models_resident_memory(tmp_path):
    ckpt = write_tiny_lm(tmp_path / "mem", vocab_size=TINY_VOCAB, seed=0, **MEMORY_CONFIG)
    warm = _checkpoint("tiny", tmp_path)
    out = subprocess.run([sys.executable, "-c", MEASURE, str(ckpt), str(warm), str(EMPTY_TEXT_ID)],
                         capture_output=True, text=True, cwd=ROOT, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    anon0, file0, anon1, _file1, anon2, file2, size, caches = map(int, out.stdout.split())
    assert anon2 - anon1 < caches + BUILD_BOUND * size, out.stdout
    assert (anon2 - anon0) + (file2 - file0) < TOTAL_BOUND * size, out.stdout
