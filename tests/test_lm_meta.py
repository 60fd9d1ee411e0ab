"""A full-size MiMo-Audio-7B built on the meta device has exactly the release's keys and shapes.

The expected table is written out here from docs/FORMAT.md section 3, not derived from our module.
"""

import torch

from mimo_core.lm import MimoLMConfig
from mimo_core.lm.loading import build_meta_model

VOCAB, HIDDEN, LAYERS, KV_WIDTH, FFN = 151680, 4096, 36, 8 * 128, 11008
LOCAL, LOCAL_LAYERS, LOCAL_FFN, INPUT_LAYERS = 1024, 16, 4096, 6
SPEECH_VOCABS = (1025, 1025, 129, 129, 129, 129, 129, 129)


def _qwen2_layer(prefix: str, width: int, kv_width: int, ffn: int) -> dict:
    return {
        f"{prefix}.self_attn.q_proj.weight": (width, width),
        f"{prefix}.self_attn.q_proj.bias": (width,),
        f"{prefix}.self_attn.k_proj.weight": (kv_width, width),
        f"{prefix}.self_attn.k_proj.bias": (kv_width,),
        f"{prefix}.self_attn.v_proj.weight": (kv_width, width),
        f"{prefix}.self_attn.v_proj.bias": (kv_width,),
        f"{prefix}.self_attn.o_proj.weight": (width, width),
        f"{prefix}.mlp.gate_proj.weight": (ffn, width),
        f"{prefix}.mlp.up_proj.weight": (ffn, width),
        f"{prefix}.mlp.down_proj.weight": (width, ffn),
        f"{prefix}.input_layernorm.weight": (width,),
        f"{prefix}.post_attention_layernorm.weight": (width,),
    }


def release_keys() -> dict:
    keys = {"model.embed_tokens.weight": (VOCAB, HIDDEN), "model.norm.weight": (HIDDEN,),
            "lm_head.weight": (VOCAB, HIDDEN),
            "local_transformer.norm.weight": (LOCAL,), "input_local_transformer.norm.weight": (LOCAL,),
            "speech_group_downcast.weight": (HIDDEN, 4 * LOCAL),
            "hidden_states_downcast.weight": (LOCAL, HIDDEN)}
    for i in range(LAYERS):
        keys.update(_qwen2_layer(f"model.layers.{i}", HIDDEN, KV_WIDTH, FFN))
    for i in range(LOCAL_LAYERS):   # 64 heads x 16 dims, kv heads = heads
        keys.update(_qwen2_layer(f"local_transformer.layers.{i}", LOCAL, LOCAL, LOCAL_FFN))
    for i in range(INPUT_LAYERS):   # ffn = 4 x input_local_dim
        keys.update(_qwen2_layer(f"input_local_transformer.layers.{i}", LOCAL, LOCAL, 4 * LOCAL))
    for c, size in enumerate(SPEECH_VOCABS):
        keys[f"local_transformer_lm_heads.{c}.weight"] = (size, LOCAL)
        keys[f"speech_embeddings.{c}.weight"] = (size, LOCAL)
    return keys


def test_full_size_meta_model_has_exactly_the_release_keys_and_shapes():
    model = build_meta_model(MimoLMConfig.release())
    state = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    expected = release_keys()
    assert sorted(set(state) - set(expected)) == []
    assert sorted(set(expected) - set(state)) == []
    assert {k: v for k, v in state.items() if v != expected[k]} == {}
    assert all(v.is_meta for v in model.state_dict().values())
    assert model.speech_embeddings_to_local is None          # input_local_dim == local_dim
    params = model.num_parameters()
    assert 7.5e9 < params < 8.5e9, params                   # "~8B params with heads"


def test_speech_embeddings_to_local_exists_only_when_widths_differ():
    config = MimoLMConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                          num_key_value_heads=1, head_dim=16, intermediate_size=32, local_dim=16,
                          local_layers=1, local_attn_heads=2, local_ffn_dim=32, input_local_layers=1,
                          input_local_dim=24)
    model = build_meta_model(config)
    assert tuple(model.speech_embeddings_to_local.weight.shape) == (16, 24)
    assert tuple(model.speech_embeddings[0].weight.shape) == (1025, 24)
    assert tuple(model.speech_group_downcast.weight.shape) == (32, 4 * 24)
    assert model.speech_embeddings[3].padding_idx == 128
    assert model.model.rotary_emb.inv_freq.dtype == torch.float32
