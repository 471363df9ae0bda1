"""Faces found: MediaPipe face mesh (478 points, irises included) and selfie segmentation.

Both models ship inside the ``mediapipe==0.10.14`` wheel, so this works offline.
MediaPipe's face mesh finds faces with its *short-range* detector on a 128 px
view of the whole picture, which misses faces that are small in the frame (two
people side by side, a group photo, a face in a large landscape shot).
:func:`detect_faces` therefore also runs the *full-range* face detector on the
whole picture and on overlapping tiles, and meshes each face it finds in a
square crop around it.  Faces are returned largest first.

MediaPipe graphs are not re-entrant: every graph is created lazily on first use,
kept for the life of the process, and used under one lock.

Index groups name mesh vertices.  "LEFT" / "l_" is the **person's** left, which
is on the **image right** of an unmirrored frontal photo (MediaPipe's own
convention: its ``FACEMESH_LEFT_EYE`` holds vertex 263, the person's left outer
eye corner).  Closed contours are listed in walking order, so they can be
filled as polygons.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from faceedit.errors import FaceEditError, FaceIndexError, InvalidArgumentError, NoFaceFoundError

# --- mesh index groups (closed contours in walking order unless said otherwise) --------------------

#: Face outline from the forehead top (10) over the person's left side, chin (152), right side.
FACE_OVAL: tuple[int, ...] = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)
#: Outer lip contour from the person's right mouth corner (61) along the lower lip, then the upper.
LIPS_OUTER: tuple[int, ...] = (
    61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185,
)
#: Inner lip contour (the mouth opening) from the right inner corner (78).
LIPS_INNER: tuple[int, ...] = (
    78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191,
)
#: Mouth corners used by the FFHQ alignment (person's right, person's left).
MOUTH_CORNERS: tuple[int, int] = (61, 291)
#: Person's right eye (image left): outer corner 33, lower lid, inner corner 133, upper lid.
RIGHT_EYE: tuple[int, ...] = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
#: Person's left eye (image right): outer corner 263, lower lid, inner corner 362, upper lid.
LEFT_EYE: tuple[int, ...] = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
#: Person's right brow (image left): lower edge outer->inner (46..55), then upper edge inner->outer.
RIGHT_BROW: tuple[int, ...] = (46, 53, 52, 65, 55, 107, 66, 105, 63, 70)
#: Person's left brow (image right), same walk.
LEFT_BROW: tuple[int, ...] = (276, 283, 282, 295, 285, 336, 296, 334, 293, 300)
#: Iris centre followed by four points on its rim (needs ``refine_landmarks``).
RIGHT_IRIS: tuple[int, ...] = (468, 469, 470, 471, 472)
LEFT_IRIS: tuple[int, ...] = (473, 474, 475, 476, 477)
#: Nose outline: bridge top between the eyes (168), down the person's left side, the nostrils'
#: lower edge through the subnasale (2), up the right side.
NOSE: tuple[int, ...] = (
    168, 351, 412, 399, 437, 420, 360, 279, 358, 327, 326, 2, 97, 98, 129, 49, 131, 198, 217, 174, 188, 122,
)
#: Nose midline from the bridge to the subnasale (an open path).
NOSE_MIDLINE: tuple[int, ...] = (168, 6, 197, 195, 5, 4, 1, 19, 94, 2)
#: Jaw line from the person's right ear to the left ear through the chin (an open path).
JAW: tuple[int, ...] = (234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397,
                        288, 361, 323, 454)
#: Forehead top edge of the mesh, person's right temple to left temple (an open path).
FOREHEAD: tuple[int, ...] = (127, 162, 21, 54, 103, 67, 109, 10, 338, 297, 332, 284, 251, 389, 356)
#: Nose tip and chin points (used for pose).
NOSE_TIP = 1
CHIN = 152

NUM_LANDMARKS = 478


class MediaPipeMissingError(FaceEditError, ImportError):
    """MediaPipe (the offline face mesh) is not installed."""


@dataclass(frozen=True, eq=False)
class Face:
    """One face: its 478 mesh points in the photo's pixel coordinates and their bounding box."""

    landmarks: np.ndarray  # (478, 3) float32: x, y in pixels; z (depth) in the same pixel scale
    bbox: tuple[float, float, float, float]  # x0, y0, x1, y1 of the landmarks

    def points(self, indices: tuple[int, ...] | list[int]) -> np.ndarray:
        """``(len(indices), 2)`` float32 pixel coordinates of the named vertices."""
        return self.landmarks[list(indices), :2]

    @property
    def width(self) -> float:
        return self.bbox[2] - self.bbox[0]

    @property
    def height(self) -> float:
        return self.bbox[3] - self.bbox[1]

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        return ((self.bbox[0] + self.bbox[2]) / 2.0, (self.bbox[1] + self.bbox[3]) / 2.0)

    @property
    def left_eye_center(self) -> np.ndarray:
        """Person's left eye centre (image right): the iris centre, (x, y)."""
        return self.landmarks[LEFT_IRIS[0], :2].astype(np.float64)

    @property
    def right_eye_center(self) -> np.ndarray:
        """Person's right eye centre (image left): the iris centre, (x, y)."""
        return self.landmarks[RIGHT_IRIS[0], :2].astype(np.float64)


def face_from_landmarks(landmarks: np.ndarray) -> Face:
    """A :class:`Face` (bbox computed) from ``(478, 3)`` pixel landmarks."""
    pts = np.asarray(landmarks, dtype=np.float32)
    if pts.shape != (NUM_LANDMARKS, 3):
        raise InvalidArgumentError(f"Expected ({NUM_LANDMARKS}, 3) landmarks; got {pts.shape}.")
    x0, y0 = pts[:, :2].min(0)
    x1, y1 = pts[:, :2].max(0)
    return Face(landmarks=pts, bbox=(float(x0), float(y0), float(x1), float(y1)))


# --- MediaPipe graphs: created once, used under one lock ------------------------------------------

_LOCK = threading.RLock()
_GRAPHS: dict[str, Any] = {}
_WARMED: set[str] = set()

# MediaPipe 0.10.14 calls a protobuf API that protobuf 4 deprecates; nothing for a user to act on.
warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated", category=UserWarning)


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence the C++ start-up chatter (TFLite delegate, absl) written straight to file descriptor 2."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded, captured): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _run(name: str, image: np.ndarray) -> Any:
    """``process`` an image with the named graph, under the lock (quietly on the first call)."""
    with _LOCK:
        if name in _WARMED:
            return _graph(name).process(image)
        with _quiet_native_stderr():
            result = _graph(name).process(image)
        _WARMED.add(name)
        return result


def _solutions() -> Any:
    try:
        from mediapipe.python import solutions
    except ImportError as err:  # pragma: no cover - exercised only on a broken install
        raise MediaPipeMissingError(
            "The offline face finder needs MediaPipe, which could not be imported "
            f"({type(err).__name__}: {err}); install it with: pip install --no-deps mediapipe==0.10.14 "
            "(see scripts/install.sh)."
        ) from err
    return solutions


def _graph(name: str) -> Any:
    """The named MediaPipe graph, built on first use (call with ``_LOCK`` held)."""
    if name not in _GRAPHS:
        sol = _solutions()
        if name == "mesh":  # whole picture, several faces
            _GRAPHS[name] = sol.face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=16, refine_landmarks=True, min_detection_confidence=0.5
            )
        elif name == "mesh_crop":  # a crop around one detected face
            _GRAPHS[name] = sol.face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=3, refine_landmarks=True, min_detection_confidence=0.3
            )
        elif name == "detect":  # full-range detector: small faces too
            _GRAPHS[name] = sol.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5)
        elif name == "hands":
            _GRAPHS[name] = sol.hands.Hands(static_image_mode=True, max_num_hands=2, min_detection_confidence=0.5)
        elif name == "selfie":
            _GRAPHS[name] = sol.selfie_segmentation.SelfieSegmentation(model_selection=0)
        else:  # pragma: no cover
            raise KeyError(name)
    return _GRAPHS[name]


def _check_image(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise InvalidArgumentError(
            f"Expected an (H, W, 3) uint8 RGB image (see faceedit.imaging.load_image); got {arr.dtype} {arr.shape}."
        )
    return np.ascontiguousarray(arr)


def _mesh(image: np.ndarray, graph: str) -> list[np.ndarray]:
    """Face-mesh landmarks of every face MediaPipe finds, in pixels of ``image``."""
    h, w = image.shape[:2]
    result = _run(graph, image)
    faces = []
    for lm in result.multi_face_landmarks or []:
        arr = np.array([(p.x, p.y, p.z) for p in lm.landmark], dtype=np.float32)
        arr[:, 0] *= w
        arr[:, 1] *= h
        arr[:, 2] *= w  # MediaPipe scales z like x
        faces.append(arr)
    return faces


def _detect_boxes(image: np.ndarray) -> list[tuple[float, float, float, float, float]]:
    """Full-range face boxes ``(x0, y0, x1, y1, score)`` in pixels: whole picture plus tiles."""
    h, w = image.shape[:2]
    views = [(0, 0, w, h)]
    long_side = max(h, w)
    if long_side > 960:
        # Square tiles overlapping by half, at least 640 px and sized so that there are about 48
        # of them: a face covering a few percent of a big photo then fills a good part of a tile.
        tile = min(max(640, int(np.sqrt(h * w / 12.0))), min(h, w))
        stride = max(tile // 2, 1)
        ys = list(range(0, max(h - tile, 0) + 1, stride))
        xs = list(range(0, max(w - tile, 0) + 1, stride))
        if ys[-1] + tile < h:
            ys.append(h - tile)
        if xs[-1] + tile < w:
            xs.append(w - tile)
        views += [(x, y, x + tile, y + tile) for y in ys for x in xs]
    boxes = []
    for x0, y0, x1, y1 in views:
        view = np.ascontiguousarray(image[y0:y1, x0:x1])
        vw, vh = x1 - x0, y1 - y0
        result = _run("detect", view)
        for det in result.detections or []:
            rb = det.location_data.relative_bounding_box
            bx0, by0 = x0 + rb.xmin * vw, y0 + rb.ymin * vh
            boxes.append((bx0, by0, bx0 + rb.width * vw, by0 + rb.height * vh, float(det.score[0])))
    return boxes


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _covers(face: Face, box: tuple[float, ...]) -> bool:
    """Whether a meshed face already accounts for a detector box (its centre lies in the face)."""
    cx, cy = (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
    x0, y0, x1, y1 = face.bbox
    return (x0 <= cx <= x1 and y0 <= cy <= y1) or _iou(face.bbox, box) > 0.3


def _mesh_in_crop(image: np.ndarray, box: tuple[float, ...]) -> Face | None:
    """Mesh the face of a detector box in a square crop around it (padded where it leaves the photo)."""
    h, w = image.shape[:2]
    cx, cy = (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
    side = 2.6 * max(box[2] - box[0], box[3] - box[1])
    side = max(side, 48.0)
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = int(round(side))
    import cv2

    pad = [max(0, -y0), max(0, y0 + s - h), max(0, -x0), max(0, x0 + s - w)]
    crop = image[max(y0, 0):min(y0 + s, h), max(x0, 0):min(x0 + s, w)]
    if any(pad):
        crop = cv2.copyMakeBorder(crop, *pad, borderType=cv2.BORDER_CONSTANT, value=(127, 127, 127))
    scale = 1.0
    if s > 512 or s < 256:  # the landmark model sees 192 px anyway; keep the detector's view sensible
        n = 512 if s > 512 else 256
        scale = n / s  # exact: the crop is s x s and becomes n x n
        crop = cv2.resize(crop, (n, n), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    found = _mesh(np.ascontiguousarray(crop), "mesh_crop")
    if not found:
        return None
    best = None
    for pts in found:
        pts = pts / scale
        pts[:, 0] += x0
        pts[:, 1] += y0
        face = face_from_landmarks(pts)
        fx, fy = face.center
        dist = (fx - cx) ** 2 + (fy - cy) ** 2
        if best is None or dist < best[0]:
            best = (dist, face)
    assert best is not None
    face = best[1]
    return face if _covers(face, box) else None


def detect_faces(image: np.ndarray, max_faces: int = 8) -> list[Face]:
    """Every face in an ``(H, W, 3) uint8`` RGB photo, largest first; ``[]`` when there is none."""
    image = _check_image(image)
    if max_faces < 1:
        raise InvalidArgumentError(f"max_faces must be at least 1; got {max_faces}.")
    faces = [face_from_landmarks(pts) for pts in _mesh(image, "mesh")]
    for box in sorted(_detect_boxes(image), key=lambda b: -b[4]):
        if any(_covers(f, box) for f in faces):
            continue
        face = _mesh_in_crop(image, box)
        if face is not None and not any(_iou(face.bbox, f.bbox) > 0.3 for f in faces):
            faces.append(face)
    faces.sort(key=lambda f: -f.area)
    return faces[:max_faces]


def select_face(image: np.ndarray, index: int = 0) -> Face:
    """The ``index``-th largest face; :class:`NoFaceFoundError` / :class:`FaceIndexError` otherwise."""
    faces = detect_faces(image, max_faces=max(index + 1, 8))
    return pick_face(faces, index)


def pick_face(faces: list[Face], index: int = 0) -> Face:
    """Choose face ``index`` from a :func:`detect_faces` result, with the same errors as :func:`select_face`."""
    if not faces:
        raise NoFaceFoundError(
            "No face was found in this photo. Use a photo where a face is clearly visible, "
            "roughly frontal and not too small."
        )
    if not 0 <= index < len(faces):
        raise FaceIndexError(
            f"Face number {index} was asked for, but the photo has {len(faces)} face"
            f"{'s' if len(faces) != 1 else ''} (numbered 0 to {len(faces) - 1}, largest first)."
        )
    return faces[index]


def segment_person(image: np.ndarray) -> np.ndarray:
    """``(H, W) float32`` in ``[0, 1]``: how much each pixel belongs to a person (selfie segmentation)."""
    image = _check_image(image)
    result = _run("selfie", image)
    mask = np.asarray(result.segmentation_mask, dtype=np.float32)
    if mask.shape != image.shape[:2]:  # pragma: no cover - MediaPipe returns the input size
        import cv2

        mask = cv2.resize(mask, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.clip(mask, 0.0, 1.0)


def detect_hands(image: np.ndarray) -> list[np.ndarray]:
    """``(21, 2) float32`` pixel landmarks of each hand MediaPipe finds (palm detection + hand landmarks)."""
    image = _check_image(image)
    h, w = image.shape[:2]
    result = _run("hands", image)
    return [np.array([(p.x * w, p.y * h) for p in hand.landmark], np.float32)
            for hand in result.multi_hand_landmarks or []]
