"""The MiMo-Audio LM configuration: exactly the keys of the release's ``config.json``.

The release stores a Qwen2 config (``model_type`` "qwen2") plus the MiMo fields, several of
which are "-"-separated strings (``speech_vocab_size`` "1025-1025-129-...``). We keep those
strings as they are on disk (so a config round-trips unchanged) and parse them on access.

The two local stacks (patch decoder ``local_transformer`` and patch encoder
``input_local_transformer``) are Qwen2 decoders that copy every other field of the main
config (rope_theta, rms_norm_eps, q/k/v bias) with their own width, heads and ffn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config_io import field_values, parse_dashed_ints, read_config_json, split_known
from ..errors import ModelLoadError


@dataclass
class MimoLMConfig:
    """Flat, typed view of the LM ``config.json`` (field names are the json keys)."""

    # Qwen2 backbone
    vocab_size: int = 151680
    hidden_size: int = 4096
    num_hidden_layers: int = 36
    num_attention_heads: int = 32
    num_key_value_heads: int = 8
    head_dim: int = 128
    intermediate_size: int = 11008
    hidden_act: str = "silu"
    rope_theta: float = 640000.0
    rms_norm_eps: float = 1e-6
    max_position_embeddings: int = 8192
    tie_word_embeddings: bool = False
    # MiMo fields
    speech_vocab_size: str | int = "1025-1025-129-129-129-129-129-129"
    speech_zeroemb_idx: str | int = "1024-1024-128-128-128-128-128-128"
    delay_pattern: str | int = "0-1-2-3-4-5-6-7"
    group_size: int = 4
    audio_channels: int = 8
    local_dim: int = 1024
    local_layers: int = 16
    local_attn_heads: int = 64
    local_ffn_dim: int = 4096
    local_attn_dropout: float = 0.1
    input_local_layers: int = 6
    input_local_dim: int | None = 1024
    input_full_attention: bool | None = True
    # every other key of config.json, kept so that a config round-trips unchanged
    extra: dict[str, Any] = field(default_factory=dict)

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MimoLMConfig":
        known, extra = split_known(cls, data)
        if data.get("rope_theta") is None and isinstance(data.get("rope_parameters"), dict):
            known["rope_theta"] = data["rope_parameters"]["rope_theta"]
        cfg = cls(**known, extra=extra)
        cfg.validate()
        return cfg

    @classmethod
    def from_json_file(cls, path: str | Path) -> "MimoLMConfig":
        return cls.from_dict(read_config_json(path, "LM"))

    def to_dict(self) -> dict[str, Any]:
        data = field_values(self)
        return {**self.extra, **data}

    def validate(self) -> None:
        if self.model_type_ok is False:
            raise ModelLoadError(f"LM config model_type {self.extra.get('model_type')!r} is not 'qwen2'")
        if self.speech_empty_ids != tuple(v - 1 for v in self.speech_vocab_sizes):
            # The release puts each channel's empty id at the last index; nothing else is known.
            raise ModelLoadError("speech_zeroemb_idx must be the last id of each channel's vocabulary")
        if min(self.delays) < 0:
            raise ModelLoadError(f"negative delay in delay_pattern {self.delay_pattern!r}")

    @property
    def model_type_ok(self) -> bool:
        return self.extra.get("model_type", "qwen2") == "qwen2"

    # ---- parsed views ---------------------------------------------------------------------
    @property
    def speech_vocab_sizes(self) -> tuple[int, ...]:
        return parse_dashed_ints(self.speech_vocab_size, self.audio_channels, "speech_vocab_size")

    @property
    def speech_empty_ids(self) -> tuple[int, ...]:
        return parse_dashed_ints(self.speech_zeroemb_idx, self.audio_channels, "speech_zeroemb_idx")

    @property
    def delays(self) -> tuple[int, ...]:
        return parse_dashed_ints(self.delay_pattern, self.audio_channels, "delay_pattern")

    @property
    def input_dim(self) -> int:
        """Width of the patch encoder and of the speech embeddings (``input_local_dim`` or local_dim)."""
        return self.input_local_dim or self.local_dim

    # ---- transformers configs for the three Qwen2 stacks -----------------------------------
    def _qwen2(self, **overrides):
        from transformers import Qwen2Config

        base = dict(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            num_key_value_heads=self.num_key_value_heads,
            head_dim=self.head_dim,
            intermediate_size=self.intermediate_size,
            hidden_act=self.hidden_act,
            rope_theta=float(self.rope_theta),
            rms_norm_eps=self.rms_norm_eps,
            max_position_embeddings=self.max_position_embeddings,
            tie_word_embeddings=self.tie_word_embeddings,
            use_sliding_window=False,
            sliding_window=None,
            attention_dropout=0.0,
            pad_token_id=self.extra.get("pad_token_id"),
        )
        base.update(overrides)
        return Qwen2Config(**base)

    def backbone_config(self):
        return self._qwen2()

    def local_config(self):
        """Patch decoder: local_dim wide, local_attn_heads heads (= kv heads), ffn local_ffn_dim."""
        return self._qwen2(
            hidden_size=self.local_dim,
            num_hidden_layers=self.local_layers,
            num_attention_heads=self.local_attn_heads,
            num_key_value_heads=self.local_attn_heads,
            head_dim=self.local_dim // self.local_attn_heads,
            intermediate_size=self.local_ffn_dim,
        )

    def input_local_config(self):
        """Patch encoder: input_local_dim wide, local_attn_heads heads, ffn 4 x width."""
        width = self.input_dim
        return self._qwen2(
            hidden_size=width,
            num_hidden_layers=self.input_local_layers,
            num_attention_heads=self.local_attn_heads,
            num_key_value_heads=self.local_attn_heads,
            head_dim=width // self.local_attn_heads,
            intermediate_size=4 * width,
        )

    # ---- well-known configurations ---------------------------------------------------------
    @classmethod
    def release(cls) -> "MimoLMConfig":
        """The config of MiMo-Audio-7B-Base / -Instruct (docs/FORMAT.md section 3)."""
        return cls(extra={"model_type": "qwen2", "architectures": ["MiMoAudioModel"]})
