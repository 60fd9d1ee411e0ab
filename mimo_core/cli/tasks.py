"""Task commands: tts, asr, continue, s2s, understand, dialogue, s2t, chat.

    run_mimo_audio.py tts --text "Hello there." --out hello.wav
    run_mimo_audio.py asr speech.wav
    run_mimo_audio.py continue speech.wav --duration 8 --out more.wav
    run_mimo_audio.py s2s query.wav --preset voice_conversion --examples pairs.json --out conv.wav
    run_mimo_audio.py dialogue question.wav --out answer.wav --save-conversation chat.npz
    run_mimo_audio.py dialogue next.wav --conversation chat.npz --save-conversation chat.npz

Text goes to stdout, progress and warnings to stderr. ``--model-path tiny`` runs offline on
tiny random weights (noise). Exit status 0 on success; on bad input one ``error: ...`` line
on stderr, exit status 1, and no output file written (outputs are written to temporary
files and renamed into place only once everything succeeded).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Callable

from ..constants import GROUP_SIZE
from ..errors import PromptError
from ..resolve import Role, fill_specs
from ..tasks.limits import Limits
from .common import (add_generation_args, add_model_args, dump_tokens, model_options_from_args, options_from_args,
                     resolve_device_dtype, run_reporting_errors)

_OUT_HELP = "write the output audio here (24 kHz wav; default: %(default)s)"


# ------------------------------------------------------------------------------ parsers
def register(subparsers) -> None:
    """One command per task of :data:`mimo_core.tasks.registry.TASKS`, its arguments from the
    task's fields (the same names as the request fields and the web inputs)."""
    from ..remote.cli import add_engine_args
    from ..tasks.registry import TASKS

    for spec in TASKS.values():
        parser = subparsers.add_parser(spec.name, help=spec.summary, description=spec.summary)
        for field in (*spec.fields, *spec.extra_cli):
            _add_field(parser, field)
        if spec.speaks:
            parser.add_argument("--out", default=f"{spec.name}.wav", metavar="WAV", help=_OUT_HELP)
        if spec.conversation:
            parser.add_argument("--save-conversation", metavar="FILE",
                                help="save the updated conversation (.npz) to continue it later")
        parser.add_argument("--json", metavar="FILE", help="also write a JSON result (text, stop reason, groups, paths)")
        limits = parser.add_argument_group("input limits")
        limits.add_argument("--max-input-seconds", type=float, default=Limits.max_audio_seconds,
                            help="longest accepted input audio, each (default %(default)s)")
        limits.add_argument("--max-text-chars", type=int, default=Limits.max_text_chars,
                            help="longest accepted text field (default %(default)s)")
        add_model_args(parser)
        add_engine_args(parser)         # --engine-url: run on remote engines instead
        add_generation_args(parser)
        parser.set_defaults(func=run_reporting_errors(run_task), task=spec.name, speaks=spec.speaks)


def _add_field(p: argparse.ArgumentParser, field) -> None:
    from ..tasks import registry as r

    if field.cli == r.POSITIONAL:
        p.add_argument(field.name, help=field.help)
        return
    kwargs: dict = {"dest": field.name, "help": field.help}
    if field.kind == r.FLAG:
        kwargs["action"] = "store_true"
    else:
        kwargs["required"] = field.required
        kwargs["metavar"] = {r.AUDIO: "AUDIO", r.EXAMPLES: "JSON", r.CONVERSATION: "FILE",
                             r.NUMBER: "SECONDS"}.get(field.kind)
        if field.kind == r.NUMBER:
            kwargs.update(type=float, default=field.default)
            kwargs["help"] += " (default %(default)s)"
        if field.choices:
            kwargs.update(choices=field.choices, metavar=None)
    p.add_argument(field.flag, **kwargs)


# ------------------------------------------------------------------------------ requests
def _load_conversation(value):
    from ..tasks import Conversation

    if not value:
        return None
    path = Path(value)
    if not path.is_file():
        raise PromptError(f"conversation file not found: {path}")
    try:
        return Conversation.load(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one user error
        raise PromptError(f"cannot read conversation file {path}: {type(exc).__name__}: {exc}") from None


def load_examples(path: str | Path):
    """Read a few-shot examples JSON: a list (or ``{"examples": [...]}``) of objects with
    ``input_audio``, ``output_audio`` and ``transcript``; relative paths are taken from the file's folder."""
    from ..tasks import FewShotExample

    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PromptError(f"examples file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PromptError(f"cannot read examples file {path}: {exc}") from None
    if isinstance(data, dict):
        data = data.get("examples")
    if not isinstance(data, list):
        raise PromptError(f"{path} must hold a JSON list of examples")
    examples = []
    for n, item in enumerate(data, 1):
        if not isinstance(item, dict):
            raise PromptError(f"few-shot example {n} in {path} is not an object")
        unknown = set(item) - {"input_audio", "output_audio", "transcript"}
        if unknown:
            raise PromptError(f"few-shot example {n} in {path} has unknown keys {sorted(unknown)}")
        for key in ("input_audio", "output_audio"):
            if not item.get(key):
                side = key.split("_")[0]
                raise PromptError(f"few-shot example {n} has no {side} audio (examples must be pairs)")
        if not isinstance(item.get("transcript"), str) or not item["transcript"].strip():
            raise PromptError(f"few-shot example {n} has no transcript")
        audio = {k: str(Path(item[k]) if Path(item[k]).is_absolute() else path.parent / item[k])
                 for k in ("input_audio", "output_audio")}
        examples.append(FewShotExample(audio["input_audio"], audio["output_audio"], item["transcript"]))
    return tuple(examples)


def build_request(args):
    """The typed request for ``args.task`` (no model needed): each field converted from its
    argument; checking is the task layer's (planning)."""
    from ..tasks import registry as r

    spec = r.task_spec(args.task)
    values = {}
    for field in spec.fields:
        value = getattr(args, field.name)
        if field.kind == r.EXAMPLES:
            value = load_examples(value)
        elif field.kind == r.CONVERSATION:
            value = _load_conversation(value)
        elif field.kind == r.FLAG:
            value = bool(value)
        values[field.name] = value
    if hasattr(args, "preset"):                 # two flags for one field: say how to use them
        from ..prompts import get_preset

        if values.get("instruction") and args.preset:
            raise PromptError("give either --instruction or --preset, not both")
        if not values.get("instruction") and not args.preset:
            raise PromptError(f"{spec.name} needs --instruction TEXT or --preset NAME")
        if args.preset:
            values["instruction"] = get_preset(args.preset).instruction
    return spec.request(**values, options=options_from_args(args))


def model_specs(args) -> dict:
    """instruct / base / tokenizer specs for the task: unset roles follow ``tiny``; a Base
    task without --base-model-path uses the official Base repo (never the Instruct weights)."""
    from ..tasks.registry import TASKS

    role = TASKS[args.task].role
    instruct, base, tokenizer = fill_specs(args.model_path, args.base_model_path, args.tokenizer_path)
    return {"instruct": instruct if role == Role.INSTRUCT else None,
            "base": base if role == Role.BASE else None,
            "tokenizer": tokenizer}


# ------------------------------------------------------------------------------ running
class _Outputs:
    """Files to write, staged as temporaries beside their targets and renamed at the end."""

    def __init__(self):
        self._staged: list[tuple[Path, Path]] = []

    def stage(self, target: str | Path, write: Callable[[Path], None]) -> Path:
        target = Path(target)
        parent = _check_target(target, "output path")
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part" + target.suffix, dir=parent)
        os.close(fd)
        self._staged.append((Path(tmp), target))
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)               # mkstemp made it private; use the usual mode
        return target

    def commit(self) -> None:
        for tmp, target in self._staged:
            os.replace(tmp, target)
        self._staged = []

    def discard(self) -> None:
        for tmp, _ in self._staged:
            tmp.unlink(missing_ok=True)
        self._staged = []


def _progress_bar():
    from tqdm import tqdm

    state = {}

    def update(done: int, total: int) -> None:
        bar = state.get("bar")
        if bar is None:
            bar = state["bar"] = tqdm(total=total, unit="group", file=sys.stderr, leave=False,
                                      disable=None, mininterval=0.5, desc="generating")
        bar.update(done - bar.n)

    def close() -> None:
        if state.get("bar") is not None:
            state["bar"].close()

    return update, close


def _check_target(target: Path, name: str) -> Path:
    """Refuse an output path that is a directory or lies in a missing folder; return its folder."""
    if target.is_dir():
        raise PromptError(f"{name} {target} is a directory")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise PromptError(f"{name}: folder {parent} does not exist")
    return parent


def _check_output_targets(args) -> None:
    """Refuse unusable output paths before any work."""
    for attr in ("out", "json", "save_conversation", "dump_tokens"):
        value = getattr(args, attr, None) if (attr != "out" or args.speaks) else None
        if value:
            _check_target(Path(value), f"--{attr.replace('_', '-')}")


def run_task(args) -> int:
    import logging

    from ..audio_io import save_audio
    from ..tasks import MimoAudio

    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s", stream=sys.stderr)
    _check_output_targets(args)
    request = build_request(args)
    limits = Limits(max_audio_seconds=args.max_input_seconds, max_text_chars=args.max_text_chars)
    if args.engine_url:                       # a client of remote engines: no weights here
        from ..remote.cli import remote_from_args
        mimo = remote_from_args(args)
    else:
        device, dtype = resolve_device_dtype(args.device, args.dtype)
        mimo = MimoAudio(**model_specs(args), device=device, dtype=dtype, max_batch=1, limits=limits,
                         **model_options_from_args(args))
    outputs = _Outputs()
    update, close_bar = _progress_bar()
    try:
        try:
            result = mimo.run(request, progress=update)
        finally:
            close_bar()
        paths = {}
        if args.speaks and result.audio is not None:
            paths["audio"] = str(outputs.stage(args.out, lambda p: save_audio(p, result.audio)))
        if args.dump_tokens:
            paths["tokens"] = str(outputs.stage(args.dump_tokens, lambda p: dump_tokens(p, result.tokens)))
        if getattr(args, "save_conversation", None) and result.conversation is not None:
            paths["conversation"] = str(outputs.stage(args.save_conversation, result.conversation.save))
        if args.json:
            tiny = mimo.models.uses_tiny() if hasattr(mimo, "models") else None
            payload = result_json(result, paths, tiny=tiny)
            outputs.stage(args.json, lambda p: p.write_text(json.dumps(payload, ensure_ascii=False, indent=2)))
        outputs.commit()
    except BaseException:
        outputs.discard()
        raise
    finally:
        mimo.close()
    if result.text:
        print(result.text)
    for kind, path in paths.items():
        print(f"wrote {kind}: {path}", file=sys.stderr)
    return 0


def result_json(result, paths: dict, tiny: bool) -> dict:
    return {
        "task": result.task,
        "text": result.text,
        "answer": result.answer,            # the text without the reasoning
        "thinking": result.thinking,        # the reasoning ("" when the model did not think)
        "stop_reason": result.stop_reason,
        "stop_token": result.stop_token,
        "new_groups": result.new_groups,
        "prompt_groups": result.prompt_columns // GROUP_SIZE,
        "seed": result.seed,
        "audio_seconds": round(result.duration_s, 4) if result.audio is not None else None,
        "sample_rate": result.sample_rate,
        "paths": paths,
        "tiny_model_noise": tiny,
    }
