#!/usr/bin/env bash
# Install everything the tests need (venv, requirements, Debian's chromium) and run them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: /usr/bin/chromium missing; browser tests need: sudo apt-get install chromium" >&2
  fi
fi
.venv/bin/python -m ruff check .
.venv/bin/python -m pytest "$@"
