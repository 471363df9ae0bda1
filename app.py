"""Start the faceedit web app: ``python app.py`` (Hugging Face Spaces runs this file too).

Environment: ``FACEEDIT_ENGINE`` (lite | gan; default: chosen from the weights present),
``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` (default 127.0.0.1:7860; the Docker image sets 0.0.0.0).
"""

from __future__ import annotations

from faceedit.ui import build_demo, launch_kwargs

demo = build_demo()

if __name__ == "__main__":
    demo.launch(**launch_kwargs())
