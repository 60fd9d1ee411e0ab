"""The audio tokenizer module (encoder + decoder) and its user-facing wrapper.

``AudioTokenizer`` is what the rest of the project uses: waveform -> [20, T] codes and
codes -> waveform, with the reference's long-audio rules (independent 6000-mel-frame
encode segments, 1500-frame decode chunks) and batching of several clips in one
packed forward. Results always come back on the CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..checkpoints import resolve_device
from ..errors import AudioInputError, DeviceError
from .config import TokenizerConfig
from .decoder import AudioDecoder
from .encoder import AudioEncoder, conv_out_length, pooled_length
from .loading import load_config, read_state_dict, resolve_checkpoint_dir, weights_path
from .mel import log_mel, min_samples
from .streaming import StreamingDecoder

ENCODE_SEGMENT_MEL_FRAMES = 6000     # reference: encode in independent 60 s mel segments
DECODE_CHUNK_FRAMES = 1500           # reference: decode in independent 60 s code chunks
ENCODE_GROUP_MEL_FRAMES = 256000     # reference: at most this many mel frames per forward
SUPPORTED_DTYPES = (torch.float32, torch.bfloat16)   # as the reference (fp16 LMs get an fp32 tokenizer)


class MiMoAudioTokenizerModel(nn.Module):
    """State-dict keys: ``encoder.*`` and ``decoder.*`` exactly as the release."""

    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        self.config = cfg
        self.encoder = AudioEncoder(cfg)
        self.decoder = AudioDecoder(cfg)


def split_segments(length: int, segment: int) -> list[int]:
    """[segment] * (length // segment) + [remainder], as the reference splits long mels."""
    sizes = [segment] * (length // segment)
    if length % segment:
        sizes.append(length % segment)
    return sizes


def code_frames(samples: int, cfg: TokenizerConfig) -> int:
    """Code frames ``encode`` makes of ``samples`` waveform samples, without running it: the
    centred STFT's mel frames, split into encode segments, each through conv2's stride and
    the average pooler (the lengths :class:`AudioEncoder` computes)."""
    mel_frames = samples // cfg.hop_length + 1                      # torch.stft(center=True)
    return sum(pooled_length(conv_out_length(size, cfg), cfg.avg_pooler)
               for size in split_segments(mel_frames, ENCODE_SEGMENT_MEL_FRAMES))


def as_waveform(wav) -> torch.Tensor:
    if isinstance(wav, np.ndarray):
        wav = torch.from_numpy(np.ascontiguousarray(wav))
    if not isinstance(wav, torch.Tensor):
        raise AudioInputError(f"expected a 1-D waveform (numpy array or torch tensor), got {type(wav).__name__}")
    if wav.dim() != 1 or wav.numel() == 0:
        raise AudioInputError(f"expected a non-empty 1-D 24 kHz waveform, got shape {tuple(wav.shape)}")
    if not torch.isfinite(wav).all():
        raise AudioInputError("waveform contains NaN or infinite samples")
    return wav.float()


class AudioTokenizer:
    """Waveform <-> RVQ codes. ``encode`` -> LongTensor [C, T]; ``decode`` -> FloatTensor [T * 960]."""

    def __init__(self, model: MiMoAudioTokenizerModel, attn_backend: str = "auto"):
        self.model = model.eval()
        self.config = model.config
        self.attn_backend = attn_backend

    @property
    def device(self) -> torch.device:
        return self.model.encoder.conv1.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.encoder.conv1.weight.dtype

    @property
    def num_quantizers(self) -> int:
        return self.config.num_quantizers

    @property
    def decode_chunk_frames(self) -> int:
        """Code frames decoded independently (the streaming decoder restarts at this edge too)."""
        return DECODE_CHUNK_FRAMES

    # ---- encoding -----------------------------------------------------------------
    def mel(self, wav) -> torch.Tensor:
        """1-D 24 kHz waveform -> log-mel [T_mel, n_mels] float32 on the model's device."""
        wav = as_waveform(wav)
        need, rate = min_samples(self.config), self.config.sampling_rate
        if wav.numel() < need:
            raise AudioInputError(f"audio is too short: {wav.numel()} samples ({1000 * wav.numel() / rate:.2f} ms) at "
                                  f"{rate} Hz; the audio tokenizer needs at least {need} ({1000 * need / rate:.2f} ms)")
        return log_mel(wav.to(self.device), self.config)

    @torch.inference_mode()
    def encoder_features(self, mels: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[int]]:
        """Whole-clip log-mels -> per clip (RVQ input features [T, D], in model dtype) and code counts."""
        segs, tails, owner = [], [], []
        for clip, mel in enumerate(mels):
            sizes = split_segments(mel.shape[0], ENCODE_SEGMENT_MEL_FRAMES)
            for piece, size in zip(torch.split(mel, sizes), sizes):
                segs.append(piece)
                tails.append(size < max(sizes))
                owner.append(clip)
        feats, counts = [], [0] * len(mels)
        start = 0
        while start < len(segs):                      # bounded memory: groups of <= 256k mel frames
            stop, total = start, 0
            while stop < len(segs) and (stop == start or total + segs[stop].shape[0] <= ENCODE_GROUP_MEL_FRAMES):
                total += segs[stop].shape[0]
                stop += 1
            hidden, lens = self.model.encoder(segs[start:stop], tails[start:stop], self.attn_backend)
            feats.extend(torch.split(hidden, lens))
            for clip, n in zip(owner[start:stop], lens):
                counts[clip] += n
            start = stop
        per_clip = [[f for f, o in zip(feats, owner) if o == clip] for clip in range(len(mels))]
        return [torch.cat(parts, 0) for parts in per_clip], counts

    @torch.inference_mode()
    def encode_mels(self, mels: list[torch.Tensor], num_quantizers: int | None = None) -> list[torch.Tensor]:
        feats, _ = self.encoder_features([m.to(self.device) for m in mels])
        quantizer = self.model.encoder.quantizer
        return [quantizer.encode(f.float(), num_quantizers).cpu() for f in feats]

    def encode_batch(self, wavs, num_quantizers: int | None = None) -> list[torch.Tensor]:
        """Several 1-D 24 kHz waveforms -> list of LongTensor [C, T_i] (CPU), one packed forward."""
        return self.encode_mels([self.mel(w) for w in wavs], num_quantizers)

    def encode(self, wav, num_quantizers: int | None = None) -> torch.Tensor:
        """1-D 24 kHz waveform -> LongTensor [C, T] on the CPU (C = num_quantizers, 20 by default)."""
        return self.encode_batch([wav], num_quantizers)[0]

    # ---- decoding -----------------------------------------------------------------
    def check_codes(self, codes) -> torch.Tensor:
        if isinstance(codes, np.ndarray):
            codes = torch.from_numpy(codes)
        if not isinstance(codes, torch.Tensor) or codes.dim() != 2:
            raise AudioInputError("codes must be a 2-D integer array [channels, frames]")
        if codes.dtype.is_floating_point or codes.dtype == torch.bool:
            raise AudioInputError(f"codes must be integers, got {codes.dtype}")
        channels = codes.shape[0]
        if not 1 <= channels <= self.num_quantizers:
            raise AudioInputError(f"codes have {channels} channels; expected 1..{self.num_quantizers}")
        sizes = torch.tensor(self.config.codebook_sizes()[:channels])
        codes = codes.long().cpu()
        if codes.numel() and ((codes < 0).any() or (codes >= sizes[:, None]).any()):
            raise AudioInputError("codes out of range for the tokenizer's codebooks")
        return codes

    @torch.inference_mode()
    def decode_batch(self, codes_list) -> list[torch.Tensor]:
        """List of codes [C_i, T_i] -> list of float32 CPU waveforms [T_i * 960]; one packed forward."""
        checked = [self.check_codes(c) for c in codes_list]
        chunks, owner = [], []
        for index, codes in enumerate(checked):
            for start in range(0, codes.shape[1], DECODE_CHUNK_FRAMES):
                chunks.append(codes[:, start:start + DECODE_CHUNK_FRAMES])
                owner.append(index)
        outs = self.decode_chunks(chunks) if chunks else []
        return [torch.cat([w for w, o in zip(outs, owner) if o == i] + [torch.zeros(0)])
                for i in range(len(checked))]

    @torch.inference_mode()
    def decode_chunks(self, chunks: list[torch.Tensor]) -> list[torch.Tensor]:
        """Independent code sequences [C, T_i] -> float32 CPU waveforms (no chunking)."""
        quantizer = self.model.encoder.quantizer
        embeds = [quantizer.decode(c.to(self.device)) for c in chunks]                    # [T_i, D]
        lengths = [e.shape[0] for e in embeds]
        wavs = self.model.decoder(torch.cat(embeds, 0), lengths, self.attn_backend)
        return [w.float().cpu() for w in wavs]

    def decode(self, codes) -> torch.Tensor:
        """codes [C, T] -> float32 CPU waveform [T * 960] (1500-frame chunks, as the reference)."""
        return self.decode_batch([codes])[0]

    def streaming_decoder(self, **options) -> StreamingDecoder:
        """A fresh :class:`StreamingDecoder` over this tokenizer (see its docstring for options)."""
        return StreamingDecoder(self, **options)


def build_model(cfg: TokenizerConfig, device: str | torch.device = "meta") -> MiMoAudioTokenizerModel:
    with torch.device(device):
        return MiMoAudioTokenizerModel(cfg)


def check_device(device: str | torch.device, dtype: torch.dtype) -> torch.device:
    device = resolve_device(device, kinds=("cpu", "cuda"))
    if dtype not in SUPPORTED_DTYPES:
        raise DeviceError(f"unsupported dtype {dtype} (use float32 or bfloat16)")
    return device


def load_audio_tokenizer(path_or_repo_id: str | Path, device: str | torch.device = "cpu",
                         dtype: torch.dtype = torch.float32, attn_backend: str = "auto") -> AudioTokenizer:
    """Load ``config.json`` + ``model.safetensors`` from a local directory or a Hugging Face repo id."""
    device = check_device(device, dtype)
    ckpt_dir = resolve_checkpoint_dir(path_or_repo_id)
    cfg = load_config(ckpt_dir)
    model = build_model(cfg, "meta")
    expected = {k: v.shape for k, v in model.state_dict().items()}
    state = read_state_dict(weights_path(ckpt_dir), expected, dtype, device)
    model.load_state_dict(state, strict=True, assign=True)
    return AudioTokenizer(model, attn_backend)
