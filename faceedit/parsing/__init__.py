"""Face parsing: an aligned crop in, a 19-class label map out (canonical order of :mod:`faceedit.labels`).

Two parsers implement the :class:`Parser` protocol:

* :class:`faceedit.parsing.landmark.LandmarkParser` - offline, always available:
  fills MediaPipe face-mesh polygons and separates hair, neck and cloth with the
  selfie segmentation, geometry and colour statistics.
* ``faceedit.parsing.bisenet.BiSeNetParser`` - the published BiSeNet checkpoint
  (when its weights are present).

Either way "l_" classes are the *person's* left, on the *image right* of the crop.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Parser(Protocol):
    """Anything that turns an aligned face crop into a label map."""

    #: Short name shown to users ("landmark", "bisenet").
    name: str

    def parse(self, crop: np.ndarray) -> np.ndarray:
        """``(H, W, 3) uint8`` RGB crop -> ``(H, W) uint8`` canonical 19-class labels."""
        ...


def landmark_parser() -> Parser:
    """The offline parser (a fresh :class:`~faceedit.parsing.landmark.LandmarkParser`)."""
    from faceedit.parsing.landmark import LandmarkParser

    return LandmarkParser()


def bisenet_available() -> bool:
    """Whether the BiSeNet parser and its checkpoint are installed locally (never downloads)."""
    try:
        from faceedit import weights  # type: ignore[attr-defined]
        from faceedit.parsing.bisenet import WEIGHTS_NAME  # type: ignore[import-not-found]
    except ImportError:
        return False
    return weights.local_path(WEIGHTS_NAME) is not None


def get_parser(name: str = "auto") -> Parser:
    """``"landmark"``, ``"bisenet"``, or ``"auto"``: BiSeNet when its weights are here, else landmark."""
    from faceedit.errors import InvalidArgumentError, WeightsMissingError

    key = name.strip().lower()
    if key not in ("auto", "landmark", "bisenet"):
        raise InvalidArgumentError(f"Unknown parser {name!r}; choose from: auto, landmark, bisenet.")
    if key == "landmark" or (key == "auto" and not bisenet_available()):
        return landmark_parser()
    try:
        from faceedit.parsing.bisenet import BiSeNetParser  # type: ignore[import-not-found]
    except ImportError as err:
        raise WeightsMissingError(
            "The BiSeNet face parser is not part of this installation; use --parser landmark."
        ) from err
    return BiSeNetParser()


__all__ = ["Parser", "bisenet_available", "get_parser", "landmark_parser"]
