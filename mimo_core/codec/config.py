"""Audio tokenizer configuration: exactly the keys of the release's ``config.json``.

The field names are the on-disk contract (docs/FORMAT.md section 2); unknown keys found in a
config.json are kept in ``extra`` so a round trip loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config_io import field_values, read_config_json, split_known
from ..errors import ModelLoadError

MODEL_TYPE = "mimo_audio_tokenizer"
UNBOUNDED_WINDOW = (-1, -1)   # flash-attn convention: no limit on either side


@dataclass
class TokenizerConfig:
    # signal
    sampling_rate: int = 24000
    n_mels: int = 128
    nfft: int = 960
    window_size: int = 960
    hop_length: int = 240
    fmin: float = 0
    fmax: float | None = None
    # encoder / decoder trunk
    d_model: int = 1280
    encoder_layers: int = 32
    encoder_attention_heads: int = 20
    encoder_ffn_dim: int = 5120
    encoder_skip_layer_id: int | None = 3
    encoder_causal: bool = False
    encoder_attn_window_size: tuple[int, int] = UNBOUNDED_WINDOW
    decoder_layers: int = 32
    decoder_attention_heads: int = 20
    decoder_ffn_dim: int = 5120
    decoder_causal: bool = True
    decoder_attn_window_size: tuple[int, int] = UNBOUNDED_WINDOW
    kernel_size: int = 3
    stride_size: int = 2
    decoder_kernel_size: int = 3
    decoder_stride_size: int = 2
    avg_pooler: int = 2
    scale_embedding: bool = False
    activation_function: str = "gelu"
    ln_type: str = "LayerNorm"
    position_embedding_type: str = "rope"
    rope_theta: float = 10000
    rope_type: str = "default"
    # quantizer
    num_quantizers: int = 20
    codebook_size: list[int] = field(default_factory=lambda: [1024, 1024] + [128] * 18)
    threshold_ema_dead_code: int = 2
    # vocoder
    vocoder_dim: int = 256
    vocoder_intermediate_dim: int = 1024
    vocoder_num_layers: int = 16
    vocoder_attention_heads: int = 16
    vocoder_attn_window_size: tuple[int, int] = (40, 10)
    vocoder_padding: str = "same"
    max_audio_seconds: int = 1800
    model_type: str = MODEL_TYPE
    extra: dict[str, Any] = field(default_factory=dict)

    # ---- derived sizes -------------------------------------------------------------
    @property
    def samples_per_frame(self) -> int:
        """Waveform samples per codec frame (960 for the release)."""
        return self.hop_length * self.stride_size * self.avg_pooler

    def codebook_sizes(self) -> list[int]:
        """One size per quantizer (a short list repeats its last entry, as the reference)."""
        sizes = list(self.codebook_size) if isinstance(self.codebook_size, (list, tuple)) else [self.codebook_size]
        return (sizes + [sizes[-1]] * self.num_quantizers)[: self.num_quantizers]

    # ---- (de)serialisation ---------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TokenizerConfig":
        known, extra = split_known(cls, data)
        for key in ("encoder_attn_window_size", "decoder_attn_window_size", "vocoder_attn_window_size"):
            if key in known:
                known[key] = tuple(int(x) for x in known[key])
        cfg = cls(**known, extra=extra)
        cfg.validate()
        return cfg

    @classmethod
    def from_file(cls, path: str | Path) -> "TokenizerConfig":
        return cls.from_dict(read_config_json(path, "audio tokenizer"))

    def to_dict(self) -> dict[str, Any]:
        out = field_values(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        out.update(self.extra)
        return out

    def validate(self) -> None:
        problems = []
        if self.model_type != MODEL_TYPE:
            problems.append(f"model_type {self.model_type!r} (expected {MODEL_TYPE!r})")
        for name, width, heads in (("encoder", self.d_model, self.encoder_attention_heads),
                                   ("decoder", self.d_model, self.decoder_attention_heads),
                                   ("vocoder", self.vocoder_dim, self.vocoder_attention_heads)):
            if heads <= 0 or width % heads or (width // heads) % 2:
                problems.append(f"{name} width {width} not divisible into {heads} heads of even size")
        if self.ln_type != "LayerNorm":
            problems.append(f"ln_type {self.ln_type!r} (only LayerNorm is released)")
        if self.position_embedding_type != "rope" or self.rope_type != "default":
            problems.append("only default rotary position embeddings are supported")
        if self.vocoder_padding != "same":
            problems.append(f"vocoder_padding {self.vocoder_padding!r} (only 'same' is released)")
        if self.nfft != self.window_size:
            problems.append("nfft must equal window_size")
        if problems:
            raise ModelLoadError("unsupported audio tokenizer config: " + "; ".join(problems))


def real_config() -> TokenizerConfig:
    """The released MiMo-Audio-Tokenizer's config (docs/FORMAT.md section 2); the defaults above."""
    return TokenizerConfig()


def tiny_config() -> TokenizerConfig:
    """Tiny widths with the real signal parameters (the shape class of the test fixture)."""
    return TokenizerConfig(
        d_model=64, encoder_layers=4, encoder_attention_heads=4, encoder_ffn_dim=128,
        decoder_layers=2, decoder_attention_heads=4, decoder_ffn_dim=128,
        vocoder_dim=64, vocoder_intermediate_dim=128, vocoder_num_layers=2, vocoder_attention_heads=4,
    )
