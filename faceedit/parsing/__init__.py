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


__all__ = ["Parser", "landmark_parser"]
