"""Typed errors of the faceedit backend.

Every error a person can cause (a bad file, no face, missing weights, an unknown
option) is a subclass of :class:`FaceEditError`; its message is written to be
shown as-is in the UI, the CLI and the API.
"""

from __future__ import annotations


class FaceEditError(Exception):
    """Base class: the message is user-facing, plain words, no traceback needed."""


class InvalidImageError(FaceEditError):
    """The input is not an image we can read (corrupt, empty, unsupported)."""


class ImageTooLargeError(FaceEditError):
    """The image exceeds the pixel-count or side-length limit."""


class ImageTooSmallError(FaceEditError):
    """The image is too small to hold a face."""


class NoFaceFoundError(FaceEditError):
    """No face was detected in the image."""


class FaceIndexError(FaceEditError):
    """A face index was asked for that the image does not have."""


class WeightsMissingError(FaceEditError):
    """A published checkpoint needed for this operation is not available locally."""


class WeightsVerificationError(FaceEditError):
    """A checkpoint file failed its sha256 check or could not be loaded safely."""


class CheckpointLayoutError(FaceEditError):
    """A checkpoint's keys or shapes do not match the network (strict loading failed)."""


class OfflineError(FaceEditError):
    """A download was needed but the machine is offline (or HF_HUB_OFFLINE=1)."""


class UnsupportedEditError(FaceEditError):
    """The active engine cannot perform the requested edit (it says why and what would)."""


class InvalidArgumentError(FaceEditError, ValueError):
    """An argument is out of range or unknown; the message names the allowed values."""
