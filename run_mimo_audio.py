#!/usr/bin/env python3
"""MiMo-Audio Studio entry point.

    python run_mimo_audio.py [app flags]          launch the web UI (default)
    python run_mimo_audio.py <command> [...]      run one task from the command line

Commands: tts, asr, continue, s2s, understand, dialogue, s2t, chat (tasks),
codec (audio tokenizer), generate (raw engine on a prompt matrix), app (web UI),
serve (the OpenAI-compatible API without the UI).
``python run_mimo_audio.py <command> --help`` describes each one.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Each module exposes register(subparsers); a parser's `func(args) -> int` runs it.
_COMMAND_MODULES = ("mimo_core.cli.tasks", "mimo_core.cli.codec", "mimo_core.cli.generate", "app.launch",
                    "app.serve")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_mimo_audio.py",
        description="MiMo-Audio Studio: web UI (no command) or one task from the command line.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="<command>")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["app", *argv]          # no command: launch the web UI with these flags
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
