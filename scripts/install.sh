#!/usr/bin/env bash
# Install faceedit's requirements: into .venv (created if needed), or with --system into the running Python
# (the Docker image); --dev adds the test tools.  The one place MediaPipe is installed (see below).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
SYSTEM=0 DEV=0
for arg in "$@"; do
  case "$arg" in
    --system) SYSTEM=1 ;;
    --dev) DEV=1 ;;
    *) echo "usage: $0 [--system] [--dev]" >&2; exit 2 ;;
  esac
done
if [ "$SYSTEM" = 1 ]; then
  PY=$PYTHON
else
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  PY=.venv/bin/python
fi
PIP=("$PY" -m pip install --disable-pip-version-check -q)
"${PIP[@]}" -r requirements.txt
# MediaPipe ships its face mesh and selfie segmentation models inside the wheel; --no-deps keeps
# the single opencv-python-headless above (its metadata would add opencv-contrib-python and jax).
# pyproject.toml leaves MediaPipe out of its dependencies for the same reason: after `pip install .`
# run this script (or this one line) to add it.
"${PIP[@]}" --no-deps mediapipe==0.10.14
if [ "$DEV" = 1 ]; then
  "${PIP[@]}" -r requirements-dev.txt
fi
