"""MiMo tasks with no OpenAI shape, under /v1/mimo/ (they need the Base model):

* ``POST /v1/mimo/continue``: ``{model, audio: {data, format}, duration_s, response_format}``
  -> the continued speech;
* ``POST /v1/mimo/s2s``: few-shot speech-to-speech, ``{model, instruction, examples:
  [{input_audio, output_audio, transcript}], audio, response_format}``.

Both answer ``{"text", "audio": {"data", "format"}, "duration_s", "stop_reason", "seed"}``
(the audio base64 in ``response_format``, default wav); sampling fields as for chat.
"""

from __future__ import annotations

from fastapi import FastAPI, Request

from mimo_core.tasks import ContinueRequest, FewShotExample, S2SRequest, groups_for_seconds

from .audio import OUTPUT_FORMATS, audio_part_bytes, b64, encode
from .catalog import BASE
from .errors import bad_request
from .params import choice, number, text_field

DEFAULT_CONTINUE_S = 10.0


def add_routes(api: FastAPI, ctx) -> None:
    @api.post("/mimo/continue")
    async def continue_speech(request: Request):
        data = await ctx.json_body(request)
        ctx.catalog.role_of(data.get("model"), needs=BASE, task="speech continuation")
        fmt = choice(data, "response_format", OUTPUT_FORMATS, "wav")
        duration = number(data, "duration_s", float, 0)
        duration = DEFAULT_CONTINUE_S if duration is None else duration
        task = ContinueRequest(audio=_audio(data, "audio"), duration_s=duration,
                               options=ctx.options(data, groups_for_seconds(duration)))
        return _answer(await ctx.run(task), fmt)

    @api.post("/mimo/s2s")
    async def few_shot_s2s(request: Request):
        data = await ctx.json_body(request)
        ctx.catalog.role_of(data.get("model"), needs=BASE, task="few-shot speech-to-speech")
        fmt = choice(data, "response_format", OUTPUT_FORMATS, "wav")
        examples = data.get("examples")
        if not isinstance(examples, list) or not examples:
            raise bad_request("examples must be a non-empty list of {input_audio, output_audio, "
                              "transcript}", param="examples")
        pairs = []
        for n, ex in enumerate(examples):
            if not isinstance(ex, dict):
                raise bad_request(f"examples[{n}] must be an object", param=f"examples[{n}]")
            pairs.append(FewShotExample(input_audio=_audio(ex, "input_audio", f"examples[{n}]."),
                                        output_audio=_audio(ex, "output_audio", f"examples[{n}]."),
                                        transcript=text_field(ex, "transcript", required=True)))
        task = S2SRequest(audio=_audio(data, "audio"), instruction=text_field(data, "instruction", required=True),
                          examples=tuple(pairs), options=ctx.options(data))
        return _answer(await ctx.run(task), fmt)


def _audio(data: dict, name: str, where: str = "") -> bytes:
    value = data.get(name)
    if not isinstance(value, dict):
        raise bad_request(f"{where}{name} must be an object {{data, format}} with base64 audio",
                          param=where + name)
    return audio_part_bytes({"type": "input_audio", "input_audio": value}, where + name)


def _answer(result, fmt: str) -> dict:
    return {"text": result.answer, "audio": {"data": b64(encode(result.audio, fmt)), "format": fmt},
            "duration_s": round(result.duration_s, 3), "stop_reason": result.stop_reason,
            "seed": result.seed}
