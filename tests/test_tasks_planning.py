"""Validation happens once, in planning (docs/ARCHITECTURE.md): every rule a user can break is
refused by ``planning.prepare`` before any audio is encoded (the prompt builder only asserts
the same rules), and the one rule that needs the built prompt, its length against the model's
context, by ``planning.build_prompt``."""

from __future__ import annotations

import numpy as np
import pytest

from mimo_core.constants import GROUP_SIZE, SAMPLE_RATE, STREAMS
from mimo_core.errors import InputTooLongError, PromptError
from mimo_core.prompts import PromptBuilder
from mimo_core.tasks import (ASRRequest, ChatRequest, ContinueRequest, Conversation, DialogueRequest, Limits,
                             S2TRequest, TTSRequest, Turn, UnderstandRequest)
from mimo_core.tasks.planning import CONTINUE_MIN_SAMPLES, AudioRef, Prepared, build_prompt, prepare
from mimo_core.tasks.registry import TASKS


def tone(samples: int = SAMPLE_RATE // 2) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * 220 * np.arange(samples) / SAMPLE_RATE)).astype(np.float32)


CLIP = tone()
ONE_TURN = (Turn("user", audio=CLIP), Turn("assistant", text="Hello."))


def bad_requests():
    """(request, error, fragment): rules that used to fire in the prompt builder, after the
    audio was encoded, or not before the engine."""
    return [
        (TTSRequest("Hi.", instruct="calmly", natural=True), PromptError, "natural-instruction TTS"),
        (TTSRequest("Hi.", natural=True, template="Read"), PromptError, "template applies only"),
        (TTSRequest("Hi.", voice_prompt=CLIP, template="Read"), PromptError, "template applies only"),
        (TTSRequest("Hi.", voice_prompt=CLIP, instruct="  ", template="Read"), PromptError, "template applies only"),
        (ASRRequest(CLIP, language="fr"), PromptError, "unknown language 'fr'"),
        (ContinueRequest(tone(CONTINUE_MIN_SAMPLES - 1)), PromptError, "too short to continue"),
        (S2TRequest(CLIP, Conversation("s2t", (Turn("system", audio=CLIP),) + ONE_TURN)), PromptError,
         "turn 1 has role 'system'"),
        (S2TRequest(CLIP, Conversation("s2t", (Turn("assistant", text="Hi."),) + ONE_TURN)), PromptError,
         "must start with a user turn"),
        (ChatRequest("hi", Conversation("chat", ("hello",))), PromptError, "turn 1 is a str"),
        (DialogueRequest(CLIP, Conversation("dialogue", tokens=np.zeros((STREAMS, 6), np.int64))), PromptError,
         "history must be"),
        (DialogueRequest(CLIP, Conversation("dialogue", tokens=np.zeros((STREAMS, 8), np.float32))), PromptError,
         "history must be"),
    ]


@pytest.mark.parametrize("request_, error, fragment", bad_requests(),
                         ids=[f"{type(r).__name__}-{n}" for n, (r, _, _) in enumerate(bad_requests())])
def test_planning_refuses_what_the_builder_only_asserts(request_, error, fragment):
    with pytest.raises(error, match=fragment):
        prepare(request_, Limits())


def test_the_shortest_continuation_prompt_is_planned():
    p = prepare(ContinueRequest(tone(CONTINUE_MIN_SAMPLES)), Limits())
    assert p.build is PromptBuilder.speech_continuation and len(p.waves) == 1


def test_blank_instruct_is_none_and_each_layout_says_if_it_thinks():
    plain = prepare(TTSRequest("Hi.", instruct="  "), Limits())
    assert plain.args["instruct"] is None and not plain.opens_thinking
    for request in (TTSRequest("Hi.", instruct="calmly"), TTSRequest("Say it warmly: hi.", natural=True),
                    TTSRequest("Hi.", voice_prompt=CLIP), UnderstandRequest(CLIP, "What?", thinking=True),
                    S2TRequest(CLIP, thinking=True), ChatRequest("Why?", thinking=True)):
        assert prepare(request, Limits()).opens_thinking, request
    for request in (ASRRequest(CLIP), UnderstandRequest(CLIP, "What?"), ChatRequest("Why?"),
                    DialogueRequest(CLIP)):
        assert not prepare(request, Limits()).opens_thinking, request


def test_the_context_is_checked_once_on_the_built_prompt(mimo):
    lm = mimo.models.lm("instruct")
    codes = np.zeros((8, 400), np.int64)                 # 100 audio groups
    prepared = Prepared(TASKS["asr"], PromptBuilder.asr, {"codes": AudioRef(0)})
    with pytest.raises(InputTooLongError, match="over the limit of 10"):
        build_prompt(lm.builder, prepared, [codes], context_groups=10)
    prompt = build_prompt(lm.builder, prepared, [codes], context_groups=lm.engine.context_groups)
    assert prompt.shape[1] // GROUP_SIZE > 100
    # the facade passes the model's one limit (its engine's), the engine checks the same at submit
    assert lm.engine.context_groups == min(8192, lm.model.config.max_position_embeddings)


def test_a_user_error_comes_before_the_codec_runs(mimo, monkeypatch):
    """natural + instruct used to be refused by the builder, after the voice prompt was encoded."""
    from mimo_core.tasks import facade

    encoded = []

    class SpyEncoder(facade.CodeEncoder):
        def __call__(self, wav):
            encoded.append(wav.shape)
            return super().__call__(wav)

    monkeypatch.setattr(facade, "CodeEncoder", SpyEncoder)
    bad = TTSRequest("Hi.", instruct="calmly", natural=True, voice_prompt=CLIP)
    with pytest.raises(PromptError, match="natural-instruction TTS"):
        mimo.prepare(bad)
    with pytest.raises(PromptError, match="natural-instruction TTS"):
        mimo.stream(bad)                                  # at the call, before iterating
    assert encoded == []
    mimo.prepare(TTSRequest("Hi.", natural=True, voice_prompt=CLIP))      # the spy does see a good one
    assert encoded == [CLIP.shape]


def test_the_fake_backend_refuses_what_the_real_one_does():
    """The browser tests' fake runs planning only: it refuses every request above too."""
    from tests.browser.fake_backend import FakeMimoAudio

    fake = FakeMimoAudio(step_s=0)
    for request, error, fragment in bad_requests():
        with pytest.raises(error, match=fragment):
            list(fake.stream(request))


def test_a_turn_extends_a_conversation_in_one_way(mimo):
    """Conversation.after_turn is how every backend (local, remote, the fake) adds a turn."""
    before = Conversation(task="chat", turns=(Turn("user", text="Hi."), Turn("assistant", text="Hello.")))
    user, reply = Turn("user", text="And?"), Turn("assistant", text="So.", thinking="hm")
    after = before.after_turn(user, reply, tokens=np.zeros((STREAMS, 8), np.int64), system_prompt="Be brief.")
    assert after.turns == before.turns + (user, reply) and after.task == "chat"
    assert after.tokens.shape == (STREAMS, 8) and after.system_prompt == "Be brief."
    assert len(before.turns) == 2                                         # a value: the old one stays
    from mimo_core.tasks import GenerationOptions
    untasked = Conversation(turns=before.turns)                           # a caller's, without its task
    result = mimo.run(ChatRequest("And?", untasked, options=GenerationOptions(seed=1, max_new_groups=3)))
    assert result.conversation.task == "chat" and result.conversation.turns[:2] == before.turns
    assert result.conversation.turns[2:] == (Turn("user", text="And?"),
                                             Turn("assistant", text=result.answer, thinking=result.thinking))
