"""``generate``: run the raw engine on a prompt token matrix (for debugging and tests).

    run_mimo_audio.py generate --prompt-ids prompt.npy --model-path DIR --greedy \\
        --stop-ids endoftext,im_end --max-new-groups 24 --dump-tokens out.npy

The prompt is a [9, T] int64 .npy in the layout of docs/FORMAT.md section 1 (row 0 text with -100 filler in
columns 1..3 of each group, rows 1..8 codes). Special ids (``<|empty|>`` and named stop ids)
are read from the text tokenizer stored with the LM checkpoint.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import ModelNotConfiguredError, PromptError
from .common import add_generation_args, add_model_args, dump_tokens, resolve_device_dtype, run_reporting_errors

DEFAULT_STOP = "endoftext,im_end,eostm"


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("generate", help="raw engine on a [9, T] prompt matrix (.npy)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompt-ids", required=True, metavar="FILE", help="[9, T] int64 .npy prompt matrix")
    add_model_args(parser)
    add_generation_args(parser)
    parser.add_argument("--stop-ids", default=DEFAULT_STOP,
                        help="comma-separated stop ids: numbers, special-token names (endoftext, im_end, "
                             f"eostm, eosp, ...) or tokens like '<|eostm|>'; '' for none (default {DEFAULT_STOP})")
    parser.add_argument("--min-new-groups", type=int, default=0, help="stop ids are banned until this many groups")
    parser.add_argument("--attn", default="auto", choices=("auto", "sdpa", "eager", "flash_attention_2"))
    parser.add_argument("--eager", action="store_true", help="use the eager (reference-like) path")
    parser.add_argument("--stream", action="store_true", help="print every group as it is generated")
    parser.set_defaults(func=run_reporting_errors(run))
    return parser


def _load_prompt(path: str):
    import numpy as np
    import torch

    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise PromptError(f"cannot read prompt ids from {path}: {exc}") from None
    if array.dtype.kind not in "iu":
        raise PromptError(f"prompt ids in {path} must be integers, got {array.dtype}")
    return torch.from_numpy(array.astype(np.int64))


def parse_stop_ids(text: str, special_ids) -> frozenset[int]:
    fields = vars(special_ids)
    by_token = {f"<|{name}|>": value for name, value in fields.items()}
    by_token.update({"<|Human|>": special_ids.human, "<|SpeechLM|>": special_ids.speechlm})
    ids = set()
    for item in filter(None, (part.strip() for part in text.split(","))):
        if item.lstrip("-").isdigit():
            ids.add(int(item))
        elif item in fields:
            ids.add(fields[item])
        elif item in by_token:
            ids.add(by_token[item])
        else:
            raise PromptError(f"unknown stop id {item!r}; use a number or one of {sorted(fields)}")
    return frozenset(ids)


def run(args: argparse.Namespace) -> int:
    from ..constants import MAX_CONTEXT_GROUPS
    from ..engine import Engine, GenerationRequest, GenerationResult
    from ..lm import load_mimo_lm
    from ..resolve import Role, resolve_spec
    from ..tasks.defaults import resolve_samplers
    from ..tasks.registry import TASKS
    from ..text import load_text_tokenizer
    from .common import options_from_args

    if not args.model_path:
        raise ModelNotConfiguredError("generate needs --model-path (an LM checkpoint directory or repo id)")
    prompt = _load_prompt(args.prompt_ids)
    device, dtype = resolve_device_dtype(args.device, args.dtype)
    checkpoint = resolve_spec(args.model_path, Role.INSTRUCT)     # dir, repo id or tiny: once
    model = load_mimo_lm(checkpoint, device=device, dtype=dtype, attn=args.attn)
    _tokenizer, special = load_text_tokenizer(checkpoint)

    # The reference's default samplers (MimoAudio.forward without a task name), which are the
    # "continue" task's; the flags override them as for every task.
    text, audio = resolve_samplers(TASKS["continue"], options_from_args(args))
    request = GenerationRequest(
        prompt_ids=prompt, text_sampler=text, audio_sampler=audio,
        stop_ids=parse_stop_ids(args.stop_ids, special),
        max_new_groups=args.max_new_groups or MAX_CONTEXT_GROUPS,   # the context limit stops it first
        min_new_groups=args.min_new_groups, seed=args.seed,
    )
    engine = Engine(model, special.empty, max_batch=1, fast=not args.eager)
    result = None
    for item in engine.stream(request):
        if isinstance(item, GenerationResult):
            result = item
        elif args.stream:
            print(f"group {item.index}: text {item.text_id} codes {item.codes[:, 0].tolist()}", flush=True)
    assert result is not None
    if args.dump_tokens:
        dump_tokens(args.dump_tokens, result.generated_ids)
    stop = result.stop_reason.value + (f" {result.stop_token}" if result.stop_token is not None else "")
    print(f"generated {result.new_groups} groups; stop: {stop}; seed {result.seed}")
    return 0


if __name__ == "__main__":  # pragma: no cover - convenience
    top = argparse.ArgumentParser()
    register(top.add_subparsers(dest="command", required=True))
    ns = top.parse_args(["generate", *sys.argv[1:]])
    sys.exit(ns.func(ns))
