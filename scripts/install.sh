#!/usr/bin/env bash
# Create .venv and install faceedit's requirements; `--dev` adds the test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip install --disable-pip-version-check -q)
"${PIP[@]}" -r requirements.txt
# MediaPipe ships its face mesh and selfie segmentation models inside the wheel; --no-deps keeps
# the single opencv-python-headless above (its metadata would add opencv-contrib-python and jax).
"${PIP[@]}" --no-deps mediapipe==0.10.14
if [ "${1:-}" = "--dev" ]; then
  "${PIP[@]}" -r requirements-dev.txt
fi
