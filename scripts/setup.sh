#!/usr/bin/env bash
# Create .venv (once) and install the project's requirements into it.
#   bash scripts/setup.sh          runtime only
#   bash scripts/setup.sh dev      runtime + test tools (pytest, playwright, gradio_client)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
req=requirements.txt
[ "${1:-}" = "dev" ] && req=requirements-dev.txt
stamp=".venv/.installed-$(cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)-${1:-run}"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  .venv/bin/python -m pip install -q -r "$req"
  touch "$stamp"
fi
