"""A deterministic random tiny audio tokenizer in the official on-disk format.

Same shape class as the test fixture (d_model 64, 4 encoder / 2 decoder / 2 vocoder
layers, 20 quantizers of 1024, 1024, 128 x 18 rows) with the real signal parameters.
Weights are random; the RVQ codebooks are drawn from the tiny encoder's own residual
features of synthetic audio (sweeps, chords, noise bursts), so every stage has spread
out, distinct rows and codes vary with the input. Used by the offline "tiny" demo
model and by tests that need a checkpoint without the shared fixtures.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from .config import TokenizerConfig, tiny_config
from .loading import CONFIG_FILE, WEIGHTS_FILE
from .model import AudioTokenizer, MiMoAudioTokenizerModel

WEIGHT_STD = 0.1
NORM_JITTER = 0.1
CODEBOOK_JITTER = 0.05
SYNTH_SECONDS = 3.0
STORAGE_DTYPE = torch.bfloat16


def _synthetic_audio(cfg: TokenizerConfig, gen: torch.Generator) -> list[torch.Tensor]:
    """A handful of varied test signals at cfg.sampling_rate."""
    n = int(SYNTH_SECONDS * cfg.sampling_rate)
    t = torch.arange(n) / cfg.sampling_rate
    clips = []
    for f0, f1 in ((120.0, 480.0), (300.0, 2400.0), (900.0, 200.0), (60.0, 6000.0)):
        phase = 2 * math.pi * (f0 * t + (f1 - f0) * t.pow(2) / (2 * SYNTH_SECONDS))
        clips.append(0.3 * torch.sin(phase))
    chord = sum(torch.sin(2 * math.pi * f * t) for f in (220.0, 277.2, 329.6)) * 0.1
    clips.append(chord * (0.5 + 0.5 * torch.sin(2 * math.pi * 3 * t)))
    noise = torch.randn(n, generator=gen) * 0.1
    clips.append(noise * (torch.sin(2 * math.pi * 2 * t) > 0))
    return clips


def _randomise(model: nn.Module, gen: torch.Generator) -> None:
    for name, param in model.named_parameters():
        if "norm" in name and name.endswith("weight"):
            param.data = 1.0 + NORM_JITTER * torch.randn(param.shape, generator=gen)
        elif name.endswith("bias"):
            param.data = NORM_JITTER * torch.randn(param.shape, generator=gen)
        else:
            fan_in = param[0].numel() if param.dim() > 1 else param.numel()
            std = min(WEIGHT_STD, 1.0 / math.sqrt(fan_in))
            param.data = std * torch.randn(param.shape, generator=gen)


def _round_to_storage(model: nn.Module) -> None:
    for tensor in list(model.parameters()) + list(model.buffers()):
        tensor.data = tensor.data.to(STORAGE_DTYPE).float()


@torch.inference_mode()
def _fill_codebooks(model: MiMoAudioTokenizerModel, gen: torch.Generator) -> None:
    """Each stage's rows: residual features of synthetic audio (random picks + jitter)."""
    tokenizer = AudioTokenizer(model, attn_backend="sdpa")
    feats, _ = tokenizer.encoder_features([tokenizer.mel(w) for w in _synthetic_audio(model.config, gen)])
    residual = torch.cat(feats).float()                                                   # [N, D]
    quantizer = model.encoder.quantizer
    for index, size in enumerate(quantizer.sizes):
        picks = torch.randint(0, residual.shape[0], (size,), generator=gen)
        scale = residual.std(dim=0, keepdim=True).clamp_min(1e-3)
        rows = residual[picks] + CODEBOOK_JITTER * scale * torch.randn(size, residual.shape[1], generator=gen)
        book = quantizer.codebook(index)
        book.embed.copy_(rows.to(STORAGE_DTYPE).float())
        book.embed_avg.copy_(book.embed)
        book.cluster_size.fill_(1.0)
        book.inited.fill_(1.0)
        residual = residual - book.lookup(book.nearest(residual))


def write_tiny_audio_tokenizer(out_dir: str | Path, seed: int = 0) -> Path:
    """Write config.json + model.safetensors (bf16) of a random tiny tokenizer; returns out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = tiny_config()
    gen = torch.Generator().manual_seed(seed)
    model = MiMoAudioTokenizerModel(cfg)
    _randomise(model, gen)
    _round_to_storage(model)
    _fill_codebooks(model, gen)
    config = cfg.to_dict() | {"architectures": ["MiMoAudioTokenizer"], "torch_dtype": "bfloat16"}
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    state = {k: v.detach().to(STORAGE_DTYPE).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS_FILE), metadata={"format": "pt"})
    return out
