"""Streaming decode vs whole decode: tolerance, seams, hold-back, chunking.

Measured at the time of writing (tiny tokenizer, speech-like codes, 4-frame pushes):
see the printed numbers with ``pytest -s``; the stated tolerance lives in
mimo_core/codec/streaming.py.
"""

import numpy as np
import pytest
import torch

PUSH = 4                      # frames per push, as the LM delivers them (one group)
REL_RMS_TOLERANCE = 0.05      # stated in mimo_core/codec/streaming.py
SEAM_FRACTION = 0.1           # a step in the error at a boundary must stay below this x the signal's median step


@pytest.fixture(scope="module")
def codes(tiny_codec):
    t = torch.arange(int(4.0 * 24000)) / 24000
    f = 150 + 100 * torch.sin(2 * np.pi * 0.7 * t)                                       # wobbling pitch
    wav = 0.3 * torch.sin(2 * np.pi * torch.cumsum(f, 0) / 24000) * (0.6 + 0.4 * torch.sin(2 * np.pi * 2 * t))
    return tiny_codec.encode(wav)[:8]                                                      # [8, 101]


def stream(tiny_codec, codes, push=PUSH, **options):
    decoder = tiny_codec.streaming_decoder(**options)
    pieces = [decoder.push(codes[:, i:i + push]) for i in range(0, codes.shape[1], push)]
    pieces.append(decoder.flush())
    return pieces, decoder


def boundary_steps(pieces, whole):
    edges = np.cumsum([len(p) for p in pieces])[:-1]
    edges = np.unique(edges[(edges > 0) & (edges < len(whole))])
    err = np.concatenate(pieces) - whole
    return np.abs(err[edges] - err[edges - 1]), np.median(np.abs(np.diff(whole)))


def test_stream_equals_whole_decode_within_tolerance(tiny_codec, codes):
    whole = tiny_codec.decode(codes).numpy()
    pieces, decoder = stream(tiny_codec, codes)
    got = np.concatenate(pieces)
    assert got.dtype == np.float32 and got.shape == whole.shape
    diff = got - whole
    rel_rms = float(np.sqrt((diff ** 2).mean() / (whole ** 2).mean()))
    print(f"\nstream vs whole: max {np.abs(diff).max():.2e}, rms {np.sqrt((diff ** 2).mean()):.2e}, "
          f"relative rms {rel_rms:.4f}, peak {np.abs(whole).max():.3f}, hold-back {decoder.holdback_frames} frames")
    assert rel_rms <= REL_RMS_TOLERANCE
    assert np.abs(diff).max() <= 0.1 * np.abs(whole).max()


def test_no_seams_at_push_boundaries(tiny_codec, codes):
    whole = tiny_codec.decode(codes).numpy()
    pieces, _ = stream(tiny_codec, codes)
    steps, signal_step = boundary_steps(pieces, whole)
    assert len(steps) >= codes.shape[1] // PUSH - 3
    print(f"\nlargest error step at a boundary {steps.max():.2e}; median signal step {signal_step:.2e}")
    assert steps.max() < SEAM_FRACTION * signal_step
    # the check can fail: a stream that drops one sample at a boundary shows a seam
    broken = [p.copy() for p in pieces]
    middle = len(broken) // 2
    broken[middle] = broken[middle][1:]
    broken[middle + 1] = np.concatenate([broken[middle + 1], np.zeros(1, np.float32)])
    bad_steps, _ = boundary_steps(broken, whole)
    assert bad_steps.max() >= SEAM_FRACTION * signal_step


def test_one_push_then_flush_is_the_whole_decode(tiny_codec, codes):
    decoder = tiny_codec.streaming_decoder()
    head = decoder.push(codes)
    got = np.concatenate([head, decoder.flush()])
    np.testing.assert_allclose(got, tiny_codec.decode(codes).numpy(), atol=1e-6, rtol=0)


def test_latency_is_the_hold_back(tiny_codec, codes):
    decoder = tiny_codec.streaming_decoder()
    cfg = tiny_codec.config
    reach_mel = cfg.vocoder_attn_window_size[1] * cfg.vocoder_num_layers
    assert decoder.holdback_samples == reach_mel * cfg.hop_length + (cfg.nfft - cfg.hop_length) // 2
    emitted = 0
    for start in range(0, 40, PUSH):
        emitted += len(decoder.push(codes[:, start:start + PUSH]))
        received = start + PUSH
        assert emitted == max(0, received * 960 - decoder.holdback_samples)


def test_hold_back_covers_exactly_the_vocoder_reach(tiny_codec):
    """Vocoder alone on a mel prefix: samples before the hold-back equal the full run's; later ones do not."""
    cfg = tiny_codec.config
    vocoder = tiny_codec.model.decoder.vocoder
    gen = torch.Generator().manual_seed(0)
    mel = torch.randn(400, cfg.n_mels, generator=gen)
    prefix = 200
    with torch.no_grad():
        full = vocoder(mel, [400])[0]
        part = vocoder(mel[:prefix], [prefix])[0]
    final = prefix * cfg.hop_length - (vocoder.right_reach * cfg.hop_length + (cfg.nfft - cfg.hop_length) // 2)
    torch.testing.assert_close(part[:final], full[:final], atol=1e-5, rtol=0)
    assert not torch.allclose(part[final:], full[final:prefix * cfg.hop_length], atol=1e-4)


def test_stream_restarts_at_decode_chunks(tiny_codec, codes, monkeypatch):
    import mimo_core.codec.model as model

    monkeypatch.setattr(model, "DECODE_CHUNK_FRAMES", 40)
    whole = tiny_codec.decode(codes).numpy()                      # chunks of 40 frames
    pieces, decoder = stream(tiny_codec, codes)
    got = np.concatenate(pieces)
    assert got.shape == whole.shape
    # the end of each chunk is emitted with the chunk's final statistics: equal to whole decode
    edge = 40 * 960
    np.testing.assert_allclose(got[edge - 960:edge], whole[edge - 960:edge], atol=1e-5, rtol=0)
    assert float(np.sqrt(((got - whole) ** 2).mean() / (whole ** 2).mean())) <= REL_RMS_TOLERANCE


def test_stream_rejects_changing_channel_count(tiny_codec, codes):
    from mimo_core.errors import AudioInputError

    decoder = tiny_codec.streaming_decoder()
    decoder.push(codes[:, :4])
    with pytest.raises(AudioInputError, match="channels"):
        decoder.push(codes[:4, 4:8])
