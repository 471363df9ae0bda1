"""Start the faceedit web app: ``python app.py`` (Hugging Face Spaces runs this file too).

Environment: ``FACEEDIT_ENGINE`` (lite | gan; default: chosen per operation from the weights present),
``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` (default 127.0.0.1:7860; the Docker image sets 0.0.0.0),
``FACEEDIT_MODELS`` (presets to download in the background at start, e.g. ``sliders,random``; the lite
engine serves meanwhile and the running app switches to the GAN engine when they are in, see
``faceedit/live_composer.py``; the page's Models tab shows their progress).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys


def _ensure_mediapipe_on_spaces() -> None:
    """On a Hugging Face Space, install MediaPipe the way scripts/install.sh does (``--no-deps``).

    Spaces install requirements.txt only, and MediaPipe's own metadata would add a second OpenCV
    and jax; locally and in Docker the install script / Dockerfile has already done this.
    """
    if os.environ.get("SPACE_ID") and importlib.util.find_spec("mediapipe") is None:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "mediapipe==0.10.14"])


_ensure_mediapipe_on_spaces()

from faceedit.ui import build_demo, launch_kwargs  # noqa: E402 - after the Spaces-only install above

demo = build_demo()

if __name__ == "__main__":
    from faceedit.weights.manager import start_from_env

    start_from_env()  # FACEEDIT_MODELS: background downloads into the weights cache
    demo.launch(**launch_kwargs())
