"""faceedit: GAN-based portrait editing (mask painting, component swap, attribute sliders).

``import faceedit`` is light: heavy optional dependencies (torch, mediapipe,
huggingface_hub, gradio) are imported by the modules that need them.
"""

__version__ = "0.1.0"
