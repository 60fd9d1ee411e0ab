"""Voice chat latency: end of the user's speech -> first reply audio, and its parts.

    .venv/bin/python bench/bench_voice_latency.py [--pause 0.8] [--repeats 3] [--groups 16]

On the tiny random model (CPU here). A spoken question (assets/question_capital.flac, at
48 kHz as a browser sends it) goes through the voice loop in 0.25 s microphone chunks, as the
tab's stream does; per repeat it measures:

* VAD wait: stream time from the end of the speech to the moment the turn is declared over
  (the configured pause, rounded up to the chunk the decision falls in);
* prompt build: ``MimoAudio.stream`` up to submitting (input checks, resampling, audio
  tokenizer encoding of the turn, the [9, T] prompt);
* first groups: from submitting to the first generated group (prefill + one step);
* codec hold-back: from the first group to the first audio chunk (the output reader holds
  back one group, the streaming decoder holds back its right context; the decode itself);
* loop: wall time in the VoiceSession from the turn's end to its first reply_audio event
  (= the three model parts plus the loop's own overhead).

Baseline, measured in the same run: the same request run to its end (``MimoAudio.run``),
which is what a record / stop / Send flow without streaming waits for before any sound.
Times are medians over the repeats.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.voice.session import REPLY_AUDIO, VoiceSession  # noqa: E402
from app.voice.turns import TurnDetector, TurnEnded, TurnSettings, WebRtcVad  # noqa: E402
from mimo_core.constants import SAMPLE_RATE, SAMPLES_PER_FRAME  # noqa: E402
from mimo_core.tasks import MimoAudio  # noqa: E402
from mimo_core.tasks.types import DialogueRequest, GenerationOptions  # noqa: E402

MIC_RATE = 48_000                 # what browsers record at
CHUNK_S = 0.25                    # the tab's stream_every
CLIP = ROOT / "assets" / "question_capital.flac"
# GPU estimate inputs (not measured here: no GPU on this machine), for the 7B Instruct in bf16:
GPU_STEP_S = 0.025                # one group: a 7B backbone step + 4 local (depth) steps, memory-bound
GPU_ENCODE_PREFILL_S = 0.06       # audio tokenizer encode of a few seconds + prefill of ~100 groups


def mic_audio() -> np.ndarray:
    wav, rate = sf.read(CLIP, dtype="float32")
    speech = soxr.resample(wav, rate, MIC_RATE).astype(np.float32)
    return np.concatenate([np.zeros(MIC_RATE // 2, np.float32), speech,
                           np.zeros(3 * MIC_RATE, np.float32)])


def chunks(x: np.ndarray):
    step = int(CHUNK_S * MIC_RATE)
    for i in range(0, len(x), step):
        yield x[i:i + step]


def vad_wait(audio: np.ndarray, pause: float) -> tuple[float, TurnEnded]:
    """Stream seconds from speech end to the end of the chunk whose frames decided the turn."""
    det, fed = TurnDetector(WebRtcVad(2), MIC_RATE, TurnSettings(pause_s=pause)), 0
    for chunk in chunks(audio):
        fed += len(chunk)
        ended = [e for e in det.push(chunk) if isinstance(e, TurnEnded)]
        if ended:
            return fed / MIC_RATE - ended[0].speech_end_s, ended[0]
    raise RuntimeError("no turn end found in the clip")


def model_parts(model: MimoAudio, turn: TurnEnded, options: GenerationOptions) -> dict:
    request = DialogueRequest(audio=(turn.audio, turn.sample_rate), options=options)
    t0 = time.perf_counter()
    events = model.stream(request)            # checks, encodes, builds the prompt, then returns
    t1 = time.perf_counter()
    first_group = first_audio = None
    groups_to_audio = 0
    for ev in events:
        now = time.perf_counter()
        if first_group is None and ev.groups_done:
            first_group = now
        if ev.audio_chunk is not None and ev.audio_chunk.size:
            first_audio, groups_to_audio = now, ev.groups_done
            break
    events.close()
    return {"prompt_build": t1 - t0, "first_groups": first_group - t1,
            "holdback": first_audio - first_group, "groups_to_audio": groups_to_audio}


def loop_latency(model: MimoAudio, audio: np.ndarray, pause: float, options: GenerationOptions) -> float:
    session = VoiceSession(model, classify=WebRtcVad(2), settings=TurnSettings(pause_s=pause),
                           options=options)
    ended_at = None
    for chunk in chunks(audio):
        if any(e.kind == "speech_end" for e in session.feed(chunk, MIC_RATE)):
            ended_at = time.perf_counter()
            break
    assert ended_at is not None, "the loop found no turn end"
    while True:
        ev = session.outbox.get(timeout=120)
        if ev.kind == REPLY_AUDIO:
            latency = time.perf_counter() - ended_at
            break
    session.close()
    session.wait_reply(120)
    return latency


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pause", type=float, default=TurnSettings().pause_s)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--groups", type=int, default=63, help="reply length (63 groups = 10 s of speech)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    model = MimoAudio.from_specs("tiny", device="cpu", dtype="float32")
    model.load("instruct")
    model.load("tokenizer")
    options = GenerationOptions(seed=1, max_new_groups=args.groups, min_new_groups=args.groups)
    audio = mic_audio()
    wait, turn = vad_wait(audio, args.pause)
    model.run(DialogueRequest(audio=(turn.audio, turn.sample_rate), options=options))   # warm-up

    parts, loops, full = [], [], []
    for _ in range(args.repeats):
        parts.append(model_parts(model, turn, options))
        loops.append(loop_latency(model, audio, args.pause, options))
        t0 = time.perf_counter()
        model.run(DialogueRequest(audio=(turn.audio, turn.sample_rate), options=options))
        full.append(time.perf_counter() - t0)
    holdback_frames = model.models.audio_tokenizer().streaming_decoder().holdback_frames
    model.close()

    med = {k: statistics.median(p[k] for p in parts) for k in parts[0]}
    named = {"VAD wait (pause + chunking)": wait, "prompt build (encode + prompt)": med["prompt_build"],
             "first groups (prefill + 1 step)": med["first_groups"],
             f"codec hold-back ({int(med['groups_to_audio'])} groups to first audio)": med["holdback"]}
    model_s = med["prompt_build"] + med["first_groups"] + med["holdback"]
    loop_s = statistics.median(loops)
    total = wait + loop_s
    print(f"voice chat latency, tiny model, CPU x{args.threads} threads, pause {args.pause:g} s, "
          f"{CHUNK_S:g} s mic chunks, median of {args.repeats}")
    for name, seconds in named.items():
        print(f"  {name:<44} {seconds * 1000:8.0f} ms  ({seconds / total:5.1%})")
    print(f"  {'model parts, measured one by one':<44} {model_s * 1000:8.0f} ms")
    print(f"    (the output reader holds back 1 group; the streaming decoder {holdback_frames:.2f} "
          f"codec frames = {holdback_frames * SAMPLES_PER_FRAME / SAMPLE_RATE * 1000:.0f} ms of audio; "
          f"the other groups before the first audio had no speech frames: random with the tiny model)")
    print(f"  {'loop: turn end -> first reply_audio event':<44} {loop_s * 1000:8.0f} ms")
    print(f"end of speech -> first reply audio: {total * 1000:.0f} ms; dominant part: "
          f"{max(named, key=named.get)}")
    base = statistics.median(full)
    print(f"baseline, whole reply first ({args.groups} groups, MimoAudio.run): {(wait + base) * 1000:.0f} ms "
          f"after the speech; streamed first audio / whole reply = {total / (wait + base):.2f}")
    gpu_model = GPU_ENCODE_PREFILL_S + (1 + med["groups_to_audio"]) * GPU_STEP_S    # same group count
    print(f"GPU estimate (7B bf16, not measured: {GPU_ENCODE_PREFILL_S * 1000:.0f} ms encode + prefill, "
          f"{GPU_STEP_S * 1000:.0f} ms a group): model parts ~{gpu_model * 1000:.0f} ms, so the VAD pause "
          f"({wait * 1000:.0f} ms) dominates there; lower it with the pause slider")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
