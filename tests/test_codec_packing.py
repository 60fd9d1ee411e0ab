"""Packed attention backends, batching and long-audio chunking of the audio tokenizer."""

import math

import pytest
import torch

from mimo_core.codec.attention import flash_available, packed_attention, resolve_backend, window_mask
from mimo_core.codec.model import DECODE_CHUNK_FRAMES, ENCODE_SEGMENT_MEL_FRAMES, code_frames, split_segments
from mimo_core.errors import DeviceError


def naive_attention(q, k, v, lengths, causal, window):
    """Dense per-sequence reference: explicit score matrix with flash-attn 2's rules."""
    left, right = window
    right = 0 if causal else right
    out, start = [], 0
    for n in lengths:
        qs, ks, vs = (t[start:start + n].double().transpose(0, 1) for t in (q, k, v))     # [H, n, Dh]
        scores = qs @ ks.transpose(1, 2) / math.sqrt(q.shape[-1])
        i, j = torch.arange(n)[:, None], torch.arange(n)[None, :]
        allowed = torch.ones(n, n, dtype=torch.bool)
        if left >= 0:
            allowed &= j >= i - left
        if right >= 0:
            allowed &= j <= i + right
        out.append((scores.masked_fill(~allowed, float("-inf")).softmax(-1) @ vs).transpose(0, 1))
        start += n
    return torch.cat(out).float()


@pytest.mark.parametrize("backend", ["sdpa", "math"])
@pytest.mark.parametrize("causal,window", [(False, (-1, -1)), (True, (-1, -1)), (False, (40, 10)), (False, (3, 1))])
def test_cpu_backends_match_dense_reference(causal, window, backend, monkeypatch):
    import mimo_core.codec.attention as attention

    monkeypatch.setattr(attention, "SCORE_BUDGET", 4 * 64 * 50)     # force several query blocks
    monkeypatch.setattr(attention, "WINDOW_BLOCK", 16)
    gen = torch.Generator().manual_seed(0)
    lengths = [1, 70, 130, 9]
    q, k, v = (torch.randn(sum(lengths), 4, 16, generator=gen) for _ in range(3))
    got = packed_attention(q, k, v, lengths, causal=causal, window=window, backend=backend)
    torch.testing.assert_close(got, naive_attention(q, k, v, lengths, causal, window), atol=2e-6, rtol=0)


def test_window_masks_follow_the_absolute_rule():
    """Masks are cached by relative geometry: every block still gets the rule on absolute positions."""
    for q_start, q_len, k_start, k_len, left, right in [(0, 4, 0, 6, 2, 1), (8, 4, 5, 9, 3, 1), (8, 4, 5, 9, 30, 30),
                                                        (16, 16, 0, 40, -1, 0), (3, 5, 0, 8, 2, -1), (4, 2, 4, 2, 0, 0)]:
        qi = torch.arange(q_start, q_start + q_len)[:, None]
        kj = torch.arange(k_start, k_start + k_len)[None, :]
        rule = ((kj >= qi - left) | (left < 0)) & ((kj <= qi + right) | (right < 0))
        mask = window_mask(q_start, q_start + q_len, k_start, k_start + k_len, left, right, torch.device("cpu"))
        assert (mask is None) == bool(rule.all())
        assert mask is None or torch.equal(mask, rule)


def test_sequences_do_not_see_each_other():
    gen = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(50, 2, 8, generator=gen) for _ in range(3))
    alone = packed_attention(q[:20], k[:20], v[:20], [20], causal=False)
    v2 = v.clone()
    v2[20:] += 100.0                                                 # change only the second sequence
    packed = packed_attention(q, k, v2, [20, 30], causal=False)
    torch.testing.assert_close(packed[:20], alone, atol=1e-6, rtol=0)


def test_backend_selection():
    assert resolve_backend("auto", torch.device("cpu"), torch.float32) == "sdpa"
    assert resolve_backend("auto", torch.device("cpu"), torch.bfloat16) == "sdpa"
    with pytest.raises(DeviceError):
        resolve_backend("flash", torch.device("cpu"), torch.bfloat16)
    with pytest.raises(DeviceError):
        resolve_backend("xformers", torch.device("cpu"), torch.float32)


@pytest.mark.skipif(not (torch.cuda.is_available() and flash_available()), reason="needs CUDA and flash-attn")
def test_flash_and_sdpa_are_interchangeable_on_cuda():
    gen = torch.Generator().manual_seed(2)
    lengths = [33, 300, 7]
    q, k, v = (torch.randn(sum(lengths), 4, 64, generator=gen).cuda().bfloat16() for _ in range(3))
    for causal, window in [(False, (-1, -1)), (True, (-1, -1)), (False, (40, 10))]:
        a = packed_attention(q, k, v, lengths, causal=causal, window=window, backend="flash")
        b = packed_attention(q, k, v, lengths, causal=causal, window=window, backend="sdpa")
        torch.testing.assert_close(a.float(), b.float(), atol=2e-2, rtol=0)


def sweep(seconds, f0, f1, sr=24000):
    t = torch.arange(int(seconds * sr)) / sr
    return 0.3 * torch.sin(2 * math.pi * (f0 * t + (f1 - f0) * t * t / (2 * seconds)))


def test_encode_batch_equals_single_encodes(tiny_codec):
    wavs = [sweep(1.0, 200, 800), sweep(2.33, 900, 300), sweep(0.41, 100, 120)]    # odd/even lengths
    batch = tiny_codec.encode_batch(wavs)
    for wav, codes in zip(wavs, batch):
        assert torch.equal(codes, tiny_codec.encode(wav))


def test_decode_batch_equals_single_decodes(tiny_codec):
    gen = torch.Generator().manual_seed(3)
    sizes = tiny_codec.config.codebook_sizes()[:8]
    codes = [torch.stack([torch.randint(0, s, (n,), generator=gen) for s in sizes]) for n in (7, 30, 13)]
    batch = tiny_codec.decode_batch(codes)
    for c, wav in zip(codes, batch):
        torch.testing.assert_close(wav, tiny_codec.decode(c), atol=1e-6, rtol=0)
        assert wav.shape == (c.shape[1] * 960,)


def test_long_audio_rules_are_the_reference_ones():
    assert (ENCODE_SEGMENT_MEL_FRAMES, DECODE_CHUNK_FRAMES) == (6000, 1500)
    assert split_segments(13001, ENCODE_SEGMENT_MEL_FRAMES) == [6000, 6000, 1001]
    assert split_segments(12000, ENCODE_SEGMENT_MEL_FRAMES) == [6000, 6000]


def test_long_audio_is_encoded_in_independent_segments(tiny_codec, monkeypatch):
    import mimo_core.codec.model as model

    monkeypatch.setattr(model, "ENCODE_SEGMENT_MEL_FRAMES", 200)      # same logic, cheaper sizes
    gen = torch.Generator().manual_seed(5)
    mel = torch.randn(200 * 2 + 51, 128, generator=gen) - 4.0                           # [451, M]
    codes = tiny_codec.encode_mels([mel])[0]
    assert codes.shape[1] == 50 + 50 + 13                     # 200 -> 100 -> 50; 51 -> 26 -> 13
    assert torch.equal(codes[:, :50], tiny_codec.encode_mels([mel[:200]])[0])
    assert torch.equal(codes[:, 50:100], tiny_codec.encode_mels([mel[200:400]])[0])
    # the short last segment sees the padded-batch edge the reference gives it (tail_pad=True),
    # whatever else shares the batch
    with torch.no_grad():
        tail, _ = tiny_codec.model.encoder([mel[400:]], [True])
        alone, _ = tiny_codec.model.encoder([mel[400:]], [False])
        batched, _ = tiny_codec.model.encoder([mel[:200], mel[400:]], [False, True])
    assert torch.equal(codes[:, 100:], tiny_codec.model.encoder.quantizer.encode(tail.float()))
    torch.testing.assert_close(batched[50:], tail, atol=1e-5, rtol=0)      # batch-shape rounding only
    assert not torch.allclose(tail, alone, atol=1e-4)


def test_long_codes_are_decoded_in_independent_chunks(tiny_codec, monkeypatch):
    import mimo_core.codec.model as model

    monkeypatch.setattr(model, "DECODE_CHUNK_FRAMES", 40)
    gen = torch.Generator().manual_seed(4)
    sizes = tiny_codec.config.codebook_sizes()[:8]
    codes = torch.stack([torch.randint(0, s, (40 + 40 + 7,), generator=gen) for s in sizes])
    wav = tiny_codec.decode(codes)
    parts = [tiny_codec.decode_chunks([codes[:, a:b]])[0] for a, b in ((0, 40), (40, 80), (80, 87))]
    torch.testing.assert_close(wav, torch.cat(parts), atol=1e-6, rtol=0)


def test_bad_codes_are_rejected(tiny_codec):
    from mimo_core.errors import AudioInputError

    with pytest.raises(AudioInputError, match="out of range"):
        tiny_codec.decode(torch.full((8, 4), 1024))
    with pytest.raises(AudioInputError, match="2-D"):
        tiny_codec.decode(torch.zeros(8, dtype=torch.long))
    with pytest.raises(AudioInputError, match="channels"):
        tiny_codec.decode(torch.zeros(21, 4, dtype=torch.long))


def test_istft_envelope_cache_follows_the_window():
    from mimo_core.codec.vocoder import ISTFT, istft_same

    head = ISTFT(960, 240)
    spec = torch.randn(1, 481, 12, dtype=torch.complex64, generator=torch.Generator().manual_seed(3))
    assert torch.equal(head(spec), istft_same(spec, head.window, 240))
    assert torch.equal(head(spec), istft_same(spec, head.window, 240))               # cached envelope
    head.window.mul_(0.5)                                                            # in-place change
    assert torch.equal(head(spec), istft_same(spec, head.window, 240))
    head.window = torch.hann_window(960) ** 2                                        # a new tensor
    assert torch.equal(head(spec), istft_same(spec, head.window, 240))


@pytest.mark.parametrize("samples", [481, 959, 960, 2879, 2880, 3840, 24001,
                                     ENCODE_SEGMENT_MEL_FRAMES * 240 + 1000])   # two encode segments
def test_code_frames_is_the_length_encode_makes(tiny_codec, samples):
    """Planning counts a clip's code frames without the codec (speech continuation needs 4)."""
    wav = 0.1 * torch.randn(samples, generator=torch.Generator().manual_seed(samples))
    assert code_frames(samples, tiny_codec.config) == tiny_codec.encode(wav).shape[1]
