"""Prompt builders reproduce every golden prompt matrix exactly (fixtures' lm_tasks).

Inputs: the call arguments recorded in the manifest, the golden tokenizer codes of each input
(``<p>.codes8``, already padded; ``<p>.codes20[:8]`` for speech continuation, which trims) and
the template recorded for the case. fp32 and bf16 goldens differ only by their codes.
"""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import FIXTURES, fixtures_available, requires_fixtures
from tests.helpers import spoken_dialogue_followup
from mimo_core.prompts import DialogueTurn, FewShotPair, PromptBuilder
from mimo_core.text.special_ids import load_text_tokenizer

pytestmark = requires_fixtures

PRECISIONS = ("fp32", "bf16")


def _task_names():
    if not fixtures_available():
        return []
    import json
    return list(json.loads((FIXTURES / "manifest.json").read_text())["lm_tasks"])


@pytest.fixture(scope="module")
def builder(fixtures_dir):
    tokenizer, special = load_text_tokenizer(fixtures_dir / "checkpoints" / "lm")
    return PromptBuilder(tokenizer, special)


class Codes:
    """Golden tokenizer codes by input path, for one precision."""

    def __init__(self, fixtures_dir: Path, precision: str):
        self.dir = fixtures_dir / "goldens" / "tokenizer"
        self.p = precision

    def __call__(self, input_path: str, key: str = "codes8") -> torch.Tensor:
        return load_file(self.dir / f"{Path(input_path).stem}.safetensors")[f"{self.p}.{key}"]


def build_case(builder: PromptBuilder, name: str, task: dict, codes: Codes, fixtures_dir: Path):
    """Map a manifest call to our builder API (see fixtures README, 'Tasks')."""
    method, args = task["call"]["method"], task["call"]["args"]
    template = (task["template"] or {}).get("text")
    if method == "tts_sft":
        voice = codes(args["prompt_speech"]) if "prompt_speech" in args else None
        return builder.tts(args["text"], template=template, instruct=args.get("instruct"),
                           voice_codes=voice, natural=not args.get("read_text_only", True))
    if method == "asr_sft":
        return builder.asr(codes(args["audio"]), template=template)
    if method == "audio_understanding_sft":
        return builder.audio_understanding(codes(args["input_speech"]), args["input_text"],
                                           thinking=args.get("thinking", False))
    if method == "spoken_dialogue_sft_multiturn":
        turns = [DialogueTurn("user", codes=codes(m["content"])) if m["role"] == "user"
                 else DialogueTurn("assistant", text=m["content"]["text"], codes=codes(m["content"]["audio"]))
                 for m in args["message_list"]]
        voice = codes(args["prompt_speech"]) if args.get("prompt_speech") else None
        return builder.spoken_dialogue(turns, system_prompt=args.get("system_prompt"), voice_codes=voice)
    if method == "spoken_dialogue_sft":
        assert not args.get("system_prompt") and not args.get("prompt_speech")
        if name == "spoken_dialogue_followup":
            previous = load_file(fixtures_dir / "goldens" / "lm" / codes.p / "spoken_dialogue.safetensors")
            return spoken_dialogue_followup(builder, previous["generated_ids"], codes(args["input_speech"]))
        return builder.spoken_dialogue(codes(args["input_speech"]))
    if method == "speech2text_dialogue_sft_multiturn":
        turns = [DialogueTurn("user", codes=codes(m["content"])) if m["role"] == "user"
                 else DialogueTurn("assistant", text=m["content"]) for m in args["message_list"]]
        return builder.s2t_dialogue(turns)
    if method == "text_dialogue_sft":
        return builder.text_dialogue(args["input_text"])
    if method == "in_context_learning_s2s":
        pairs = [FewShotPair(codes(e["input_audio"]), e["output_transcription"], codes(e["output_audio"]))
                 for e in args["prompt_examples"]]
        return builder.few_shot_s2s(args["instruction"], pairs, codes(args["audio"]))
    if method == "harness:speech_continuation":
        return builder.speech_continuation(codes(args["prompt_audio"], "codes20")[:8])
    raise AssertionError(f"unmapped golden call {method}")


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("name", _task_names())
def test_prompt_matches_golden(builder, manifest, fixtures_dir, name, precision):
    task = manifest["lm_tasks"][name]
    golden = load_file(fixtures_dir / "goldens" / "lm" / precision / f"{name}.safetensors")
    got = build_case(builder, name, task, Codes(fixtures_dir, precision), fixtures_dir)
    want = golden["prompt_ids"]
    assert got.dtype == torch.long
    assert got.shape == want.shape
    mismatch = (got != want).nonzero()
    assert mismatch.numel() == 0, f"first mismatch at (row, col) {mismatch[0].tolist()}"
    assert got.shape[1] // 4 == task[precision]["prompt_groups"]


@pytest.mark.parametrize("precision", PRECISIONS)
def test_followup_is_history_plus_turn_prompt(builder, fixtures_dir, precision):
    lm = fixtures_dir / "goldens" / "lm" / precision
    followup = load_file(lm / "spoken_dialogue_followup.safetensors")
    history = load_file(lm / "spoken_dialogue.safetensors")["generated_ids"]
    turn = builder.spoken_dialogue(Codes(fixtures_dir, precision)("inputs/speech_weather.wav"))
    assert torch.equal(turn, followup["turn_prompt_ids"])
    assert torch.equal(torch.cat([history, turn], dim=1), followup["prompt_ids"])
    # the history may come as a numpy array (a saved Conversation)
    again = spoken_dialogue_followup(builder, history.numpy(), Codes(fixtures_dir, precision)("inputs/speech_weather.wav"))
    assert torch.equal(again, followup["prompt_ids"])


def test_voice_prompt_without_instruction_uses_voice_clone_layout(builder, fixtures_dir):
    """tts(voice_codes=...) with no instruction == natural_tts with the voice (the golden layout)."""
    golden = load_file(fixtures_dir / "goldens" / "lm" / "fp32" / "tts_voice_clone.safetensors")
    voice = Codes(fixtures_dir, "fp32")("inputs/speech_hello.wav")
    text = "Please read this sentence slowly."
    assert torch.equal(builder.tts(text, voice_codes=voice), golden["prompt_ids"])
    assert torch.equal(builder.natural_tts(text, voice_codes=voice), golden["prompt_ids"])
