#!/usr/bin/env bash
# Quick start: set up (once) and run the whole test suite. Extra arguments go to pytest.
# Browser tests need Debian's chromium; on a root Debian machine it is installed here,
# elsewhere those tests skip with a reason. ../shared/fixtures (golden tensors) is used
# when present; parity tests skip with a reason without it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=""
  for p in chromium espeak-ng sox ffmpeg; do command -v "$p" >/dev/null || need="$need $p"; done
  dpkg -s chromium-driver >/dev/null 2>&1 || need="$need chromium-driver"
  if [ -n "$need" ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null) \
      || echo "warning: could not install$need; the tests that need them will skip"
  fi
fi
exec .venv/bin/python -m pytest "$@"
