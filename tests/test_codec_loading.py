"""Building and loading the audio tokenizer: full-size keys on meta, strict loading, tiny writer."""

import json
import re
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from mimo_core.codec import build_model, load_audio_tokenizer, real_config
from mimo_core.codec.tiny import write_tiny_audio_tokenizer
from mimo_core.errors import CheckpointMismatchError, DeviceError, ModelLoadError
from tests.conftest import fixtures_available

# The key families of docs/FORMAT.md section 2 ({i} layer, {q} quantizer index).
SPEC_KEY_PATTERNS = [
    r"encoder\.conv[12]\.(weight|bias)",
    r"encoder\.layers\.\d+\.self_attn\.(q_proj|v_proj|out_proj)\.(weight|bias)",
    r"encoder\.layers\.\d+\.self_attn\.k_proj\.weight",
    r"encoder\.layers\.\d+\.(self_attn_layer_norm|final_layer_norm|fc1|fc2)\.(weight|bias)",
    r"encoder\.layer_norm\.(weight|bias)",
    r"encoder\.down_sample_layer\.0\.weight",
    r"encoder\.down_sample_norm\.(weight|bias)",
    r"encoder\.quantizer\.vq\.layers\.\d+\._codebook\.(embed|embed_avg|cluster_size|inited)",
    r"decoder\.dconv[12]\.(conv|norm)\.(weight|bias)",
    r"decoder\.layers\.\d+\.self_attn\.(q_proj|v_proj|out_proj)\.(weight|bias)",
    r"decoder\.layers\.\d+\.self_attn\.k_proj\.weight",
    r"decoder\.layers\.\d+\.(self_attn_layer_norm|final_layer_norm|fc1|fc2)\.(weight|bias)",
    r"decoder\.layer_norm\.(weight|bias)",
    r"decoder\.vocoder\.embeddings\.weight",
    r"decoder\.vocoder\.layers\.\d+\.self_attn\.(q_proj|v_proj|out_proj)\.(weight|bias)",
    r"decoder\.vocoder\.layers\.\d+\.self_attn\.k_proj\.weight",
    r"decoder\.vocoder\.layers\.\d+\.(self_attn_layer_norm|final_layer_norm|fc1|fc2)\.(weight|bias)",
    r"decoder\.vocoder\.layer_norm\.(weight|bias)",
    r"decoder\.vocoder\.head\.out\.(weight|bias)",
    r"decoder\.vocoder\.head\.istft\.window",
]


def generalise(keys):
    return {re.sub(r"\.\d+\.", ".N.", k) for k in keys}


def test_full_size_model_on_meta_has_spec_keys_and_shapes():
    cfg = real_config()
    model = build_model(cfg, "meta")
    state = model.state_dict()
    assert all(t.is_meta for t in state.values())
    unmatched = [k for k in state if not any(re.fullmatch(p, k) for p in SPEC_KEY_PATTERNS)]
    assert unmatched == []
    assert all(any(re.fullmatch(p, k) for k in state) for p in SPEC_KEY_PATTERNS)
    d, ffn = 1280, 5120
    expected = {
        "encoder.conv1.weight": (d, 128, 3), "encoder.conv2.weight": (d, d, 3),
        "encoder.layers.31.fc1.weight": (ffn, d), "encoder.layers.0.self_attn.k_proj.weight": (d, d),
        "encoder.down_sample_layer.0.weight": (d, d, 2),
        "encoder.quantizer.vq.layers.0._codebook.embed": (1024, d),
        "encoder.quantizer.vq.layers.1._codebook.embed": (1024, d),
        "encoder.quantizer.vq.layers.19._codebook.embed": (128, d),
        "encoder.quantizer.vq.layers.19._codebook.cluster_size": (128,),
        "decoder.dconv1.conv.weight": (d, d, 2), "decoder.dconv2.conv.weight": (d, 128, 3),
        "decoder.layers.31.fc2.weight": (d, ffn), "decoder.vocoder.embeddings.weight": (256, 128),
        "decoder.vocoder.layers.15.fc1.weight": (1024, 256), "decoder.vocoder.head.out.weight": (962, 256),
        "decoder.vocoder.head.istft.window": (960,),
    }
    assert {k: tuple(state[k].shape) for k in expected} == expected
    assert "encoder.layers.32.fc1.weight" not in state and "decoder.vocoder.layers.16.fc1.weight" not in state
    params = sum(p.numel() for p in model.parameters())
    assert 1.1e9 < params < 1.4e9, params


@pytest.mark.skipif(not fixtures_available(), reason="golden fixtures not found")
def test_fixture_keys_have_the_same_families_as_full_size(fixtures_dir):
    stored = load_file(fixtures_dir / "checkpoints" / "audio_tokenizer" / "model.safetensors")
    assert generalise(stored) == generalise(build_model(real_config(), "meta").state_dict())


def test_tiny_writer_is_deterministic_and_loads(tiny_codec_dir, tmp_path):
    again = write_tiny_audio_tokenizer(tmp_path / "again", seed=0)
    other = write_tiny_audio_tokenizer(tmp_path / "other", seed=1)
    a, b = load_file(tiny_codec_dir / "model.safetensors"), load_file(again / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    c = load_file(other / "model.safetensors")
    assert not torch.equal(a["encoder.conv1.weight"], c["encoder.conv1.weight"])
    config = json.loads((tiny_codec_dir / "config.json").read_text())
    assert config["d_model"] == 64 and config["num_quantizers"] == 20 and config["model_type"] == "mimo_audio_tokenizer"
    tok = load_audio_tokenizer(tiny_codec_dir)
    for index, size in enumerate(tok.config.codebook_sizes()):
        embed = tok.model.encoder.quantizer.codebook(index).embed
        assert embed.shape[0] == size
        assert torch.unique(embed, dim=0).shape[0] > size // 2      # rows are distinct, not degenerate


def test_tiny_codes_depend_on_the_input(tiny_codec_dir):
    tok = load_audio_tokenizer(tiny_codec_dir)
    t = torch.arange(24000) / 24000
    low = tok.encode(0.3 * torch.sin(2 * torch.pi * 200 * t))
    high = tok.encode(0.3 * torch.sin(2 * torch.pi * 3000 * t))
    assert low.shape == (20, 26)          # 24000 samples -> 101 mel frames -> 51 -> 26
    assert (low[:8] != high[:8]).float().mean() > 0.5
    assert len(torch.unique(torch.cat([low[0], high[0]]))) > 2


def _rewrite(src, dst, edit):
    shutil.copytree(src, dst)
    state = load_file(dst / "model.safetensors")
    edit(state)
    save_file(state, str(dst / "model.safetensors"))
    return dst


def test_missing_tensor_is_named(tiny_codec_dir, tmp_path):
    bad = _rewrite(tiny_codec_dir, tmp_path / "bad", lambda s: s.pop("decoder.vocoder.head.istft.window"))
    with pytest.raises(CheckpointMismatchError, match=r"missing 1: decoder\.vocoder\.head\.istft\.window"):
        load_audio_tokenizer(bad)


def test_unexpected_tensor_is_named(tiny_codec_dir, tmp_path):
    bad = _rewrite(tiny_codec_dir, tmp_path / "bad", lambda s: s.update({"encoder.extra.weight": torch.zeros(2)}))
    with pytest.raises(CheckpointMismatchError, match=r"unexpected 1: encoder\.extra\.weight"):
        load_audio_tokenizer(bad)


def test_wrong_shape_is_named(tiny_codec_dir, tmp_path):
    key = "encoder.quantizer.vq.layers.3._codebook.embed"
    bad = _rewrite(tiny_codec_dir, tmp_path / "bad", lambda s: s.update({key: torch.zeros(64, 64)}))
    with pytest.raises(CheckpointMismatchError, match=re.escape(key)):
        load_audio_tokenizer(bad)


def test_missing_directory_and_files(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        load_audio_tokenizer(tmp_path / "nowhere")
    with pytest.raises(ModelLoadError, match="config.json"):
        load_audio_tokenizer(tmp_path)


def test_unreachable_repo_id_is_a_model_load_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="cannot download 'XiaomiMiMo/No-Such-Tokenizer'"):
        load_audio_tokenizer("XiaomiMiMo/No-Such-Tokenizer")


def test_unavailable_device_is_a_device_error(tiny_codec_dir):
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(DeviceError):
        load_audio_tokenizer(tiny_codec_dir, device="cuda")


def test_float16_is_refused_as_the_message_says(tiny_codec_dir):
    with pytest.raises(DeviceError, match="use float32 or bfloat16"):
        load_audio_tokenizer(tiny_codec_dir, dtype=torch.float16)


def test_bf16_load_keeps_bf16_weights(tiny_codec_dir):
    tok = load_audio_tokenizer(tiny_codec_dir, dtype=torch.bfloat16)
    assert tok.dtype == torch.bfloat16
    codes = tok.encode(torch.zeros(4800))
    wav = tok.decode(codes[:8])
    assert codes.shape == (20, 6) and wav.dtype == torch.float32 and wav.shape == (6 * 960,)
