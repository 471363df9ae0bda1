"""Faces found: mesh groups, several faces, largest first, clear errors, segmentation, thread safety."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from helpers import run_in_threads

from faceedit import landmarks as L
from faceedit.errors import FaceIndexError, InvalidArgumentError, NoFaceFoundError

CLOSED = {
    "FACE_OVAL": "FACEMESH_FACE_OVAL",
    "LIPS_OUTER": "FACEMESH_LIPS",
    "LIPS_INNER": "FACEMESH_LIPS",
    "LEFT_EYE": "FACEMESH_LEFT_EYE",
    "RIGHT_EYE": "FACEMESH_RIGHT_EYE",
    "LEFT_IRIS": "FACEMESH_LEFT_IRIS",
    "RIGHT_IRIS": "FACEMESH_RIGHT_IRIS",
}


@pytest.mark.parametrize("name", sorted(CLOSED))
def test_contours_walk_mediapipes_own_edges(name):
    """Each closed contour steps along MediaPipe's published connections, in order, all the way round."""
    from mediapipe.python.solutions import face_mesh_connections as conn

    edges = {frozenset(e) for e in getattr(conn, CLOSED[name])}
    ring = getattr(L, name)
    if name.endswith("IRIS"):
        ring = ring[1:]  # centre first, then the rim
    steps = {frozenset((a, b)) for a, b in zip(ring, ring[1:] + ring[:1])}
    assert steps <= edges
    assert len(set(ring)) == len(ring)


def test_brows_are_mediapipes_brow_lines_closed():
    from mediapipe.python.solutions import face_mesh_connections as conn

    for ring, edges in ((L.LEFT_BROW, conn.FACEMESH_LEFT_EYEBROW), (L.RIGHT_BROW, conn.FACEMESH_RIGHT_EYEBROW)):
        steps = {frozenset((a, b)) for a, b in zip(ring, ring[1:] + ring[:1])}
        assert {frozenset(e) for e in edges} <= steps and len(steps) == len(edges) + 2


def test_astronaut_has_one_face_with_sane_landmarks(astronaut, astronaut_faces):
    assert len(astronaut_faces) == 1
    face = astronaut_faces[0]
    assert face.landmarks.shape == (478, 3) and face.landmarks.dtype == np.float32
    x0, y0, x1, y1 = face.bbox
    assert 150 < x0 < x1 < 300 and 50 < y0 < y1 < 200  # her face, not the flag or the suit
    assert face.landmarks[:, 2].std() > 1.0  # z is in pixels, not normalised
    # Person's left = image right: both the eye contour and the iris of the LEFT group.
    assert face.points(L.LEFT_EYE)[:, 0].mean() > face.points(L.RIGHT_EYE)[:, 0].mean() + 20
    assert face.left_eye_center[0] > face.right_eye_center[0]
    assert face.points(L.LEFT_BROW)[:, 0].mean() > face.points(L.RIGHT_BROW)[:, 0].mean()
    # Each iris centre lies inside its own eye contour; brows above eyes above nose tip above lips.
    for eye, centre in ((L.LEFT_EYE, face.left_eye_center), (L.RIGHT_EYE, face.right_eye_center)):
        assert cv2.pointPolygonTest(face.points(eye), tuple(map(float, centre)), False) > 0
    brow_y = face.points(L.LEFT_BROW)[:, 1].mean()
    eye_y = face.points(L.LEFT_EYE)[:, 1].mean()
    nose_y = face.landmarks[L.NOSE_TIP, 1]
    lips_y = face.points(L.LIPS_OUTER)[:, 1].mean()
    assert brow_y < eye_y < nose_y < lips_y < face.landmarks[L.CHIN, 1]


def test_two_faces_side_by_side_are_both_found(two_faces_photo, astronaut_faces):
    faces = L.detect_faces(two_faces_photo)
    assert len(faces) == 2
    centres = sorted(f.center[0] for f in faces)
    assert centres[0] < 512 < centres[1]
    # Found through a crop around each detector box, yet in the photo's own pixels: the left copy's mesh
    # lands where the mesh of the photo alone does.
    left = min(faces, key=lambda f: f.center[0])
    err = np.abs(left.landmarks[:, :2] - astronaut_faces[0].landmarks[:, :2]).mean()
    assert err < 2.0, err
    # The mirrored copy is mirrored in the mesh too: her left eye stays at the image right.
    for f in faces:
        assert f.left_eye_center[0] > f.right_eye_center[0]


def test_largest_first_and_pick_by_index(astronaut):
    canvas = np.full((1200, 1600, 3), 190, np.uint8)
    canvas[600:856, 200:456] = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    canvas[100:612, 900:1412] = astronaut  # twice as large, further right
    faces = L.detect_faces(canvas)
    assert len(faces) == 2  # the small one is found too, although MediaPipe alone misses it
    assert faces[0].area > 3 * faces[1].area
    assert faces[0].center[0] > 900 and faces[1].center[0] < 456
    np.testing.assert_allclose(L.select_face(canvas, 1).bbox, faces[1].bbox, atol=1.0)
    with pytest.raises(FaceIndexError, match="has 2 faces"):
        L.select_face(canvas, 2)
    assert len(L.detect_faces(canvas, max_faces=1)) == 1


def test_no_face_is_a_clear_error():
    blank = np.full((300, 400, 3), 128, np.uint8)
    assert L.detect_faces(blank) == []
    with pytest.raises(NoFaceFoundError, match="No face was found"):
        L.select_face(blank)


def test_wrong_input_type_is_refused():
    with pytest.raises(InvalidArgumentError, match="uint8"):
        L.detect_faces(np.zeros((100, 100, 3), np.float32))


def test_segment_person(astronaut, astronaut_faces):
    mask = L.segment_person(astronaut)
    assert mask.shape == (512, 512) and mask.dtype == np.float32
    assert 0.0 <= mask.min() and mask.max() <= 1.0
    cx, cy = map(int, astronaut_faces[0].center)
    assert mask[cy, cx] > 0.9  # her face
    assert mask[40:80, 420:500].mean() < 0.1  # the wall behind her, top right
    assert mask[:40].mean() < 0.2


def test_concurrent_calls_are_serialised_and_agree(astronaut, astronaut_faces):
    out: list = [None] * 4
    errors: list = []

    def work(i: int) -> None:
        try:
            out[i] = L.detect_faces(astronaut)[0].landmarks
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    run_in_threads(work, 4)
    assert not errors
    for lm in out:
        np.testing.assert_allclose(lm, astronaut_faces[0].landmarks, atol=1e-3)
