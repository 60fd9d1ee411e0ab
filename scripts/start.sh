#!/usr/bin/env bash
# Quick start: set up (once) and launch the web UI. Extra arguments go to the app,
# e.g. `bash scripts/start.sh --port 7861 --share`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python run_mimo_audio.py "$@"
