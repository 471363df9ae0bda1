"""FFHQ alignment and paste-back: canonical geometry, invertibility, no seams, untouched outside."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceedit.align import Alignment, align_face, edge_feather, face_region, ffhq_keypoints, paste_back
from faceedit.errors import InvalidArgumentError
from faceedit.labels import INDEX
from faceedit.landmarks import LEFT_EYE, LIPS_OUTER, RIGHT_EYE, detect_faces


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def aligned512(astronaut, astronaut_faces):
    return align_face(astronaut, astronaut_faces[0], 512)


@pytest.mark.parametrize("size", [256, 512, 1024])
def test_crop_is_ffhq_canonical(astronaut, astronaut_faces, size):
    face = astronaut_faces[0]
    crop, al = align_face(astronaut, face, size)
    assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
    assert al.size == size and al.source_shape == (512, 512) and al.matrix.shape == (2, 3)
    eye_l, eye_r, mouth_l, mouth_r = (al.to_crop(p[None])[0] for p in ffhq_keypoints(face))
    eye_mid = (eye_l + eye_r) / 2
    # Eyes level and centred, mouth straight below: the FFHQ layout at any size.
    assert abs(eye_l[1] - eye_r[1]) < 0.004 * size
    assert abs(eye_mid[0] - (size - 1) / 2) < 0.03 * size
    assert 0.30 * size < eye_mid[1] < 0.50 * size
    assert eye_mid[1] < (mouth_l[1] + mouth_r[1]) / 2 < 0.8 * size
    assert 0.2 * size < eye_r[0] - eye_l[0] < 0.35 * size


def test_person_left_eye_is_on_the_crops_image_right(aligned512, astronaut_faces):
    crop, al = aligned512
    face = astronaut_faces[0]
    assert al.to_crop(face.points(LEFT_EYE)).mean(0)[0] > al.to_crop(face.points(RIGHT_EYE)).mean(0)[0]


def test_alignment_undoes_rotation(astronaut, aligned512):
    """A tilted photo of the same face gives (nearly) the same crop: the tilt is aligned away."""
    crop, _ = aligned512
    rot = cv2.getRotationMatrix2D((256, 256), 20, 1.0)
    tilted = cv2.warpAffine(astronaut, rot, (512, 512), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
    crop_t, al_t = align_face(tilted, detect_faces(tilted)[0], 512)
    angle = np.degrees(np.arctan2(al_t.matrix[1, 0], al_t.matrix[0, 0]))
    assert 15 < angle < 25
    centre = slice(128, 384)
    diff = np.abs(crop_t[centre, centre].astype(int) - crop[centre, centre].astype(int)).mean()
    assert diff < 10, diff


def test_big_photo_crop_matches_small_photo_crop(astronaut, aligned512):
    """A 4x larger copy of the photo (area pre-shrink path) gives the same crop, without aliasing."""
    crop, _ = aligned512
    big = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    faces = detect_faces(big)
    crop_b, al_b = align_face(big, faces[0], 512)
    assert al_b.scale < 1.0
    centre = slice(96, 416)
    assert psnr(crop_b[centre, centre], crop[centre, centre]) > 28


def test_transform_round_trip(aligned512):
    _, al = aligned512
    pts = np.array([[10.0, 20.0], [300.5, 111.25], [0.0, 511.0]])
    np.testing.assert_allclose(al.to_photo(al.to_crop(pts)), pts, atol=1e-9)
    quad_crop = al.to_crop(al.quad)
    np.testing.assert_allclose(quad_crop, [[-0.5, -0.5], [-0.5, 511.5], [511.5, 511.5], [511.5, -0.5]], atol=1e-6)


def test_padding_beyond_the_photo_is_soft(astronaut):
    """A face near the photo's corner: the part of the crop outside the photo is blurred, not smeared."""
    corner = np.ascontiguousarray(astronaut[40:, 150:])
    crop, al = align_face(corner, detect_faces(corner)[0], 256)
    top = crop[:12].astype(np.float32)
    assert np.abs(np.diff(top, axis=1)).mean() < 2.0  # smooth, FFHQ-like fill
    np.testing.assert_array_equal(paste_back(corner, crop, al)[300:], corner[300:])


def _blend_weight(al: Alignment, region: np.ndarray | None = None) -> np.ndarray:
    w = edge_feather(al.size) * (1.0 if region is None else region)
    h, wd = al.source_shape
    return cv2.warpAffine(w.astype(np.float32), al.inverse, (wd, h), flags=cv2.INTER_LINEAR)


@pytest.mark.parametrize("size", [256, 512, 1024])
def test_unedited_paste_back_is_faithful_and_leaves_outside_identical(astronaut, astronaut_faces, size):
    crop, al = align_face(astronaut, astronaut_faces[0], size)
    yy, xx = np.mgrid[:size, :size]
    region = (((xx - size / 2) / (0.4 * size)) ** 2 + ((yy - size / 2) / (0.45 * size)) ** 2 < 1).astype(np.float32)
    region = cv2.GaussianBlur(region, (0, 0), size / 50)
    back = paste_back(astronaut, crop, al, region)
    weight = _blend_weight(al, region)
    inside = weight > 0.05
    assert inside.sum() > 5000
    assert psnr(back[inside], astronaut[inside]) > 35
    far = cv2.dilate((weight > 0).astype(np.uint8), np.ones((5, 5), np.uint8)) == 0
    assert far.sum() > 100_000
    np.testing.assert_array_equal(back[far], astronaut[far])


def test_edit_shows_inside_without_a_seam(astronaut, aligned512):
    _, al = aligned512
    white = paste_back(astronaut, np.full((512, 512, 3), 255, np.uint8), al).astype(np.float32)
    black = paste_back(astronaut, np.zeros((512, 512, 3), np.uint8), al).astype(np.float32)
    alpha = (white - black).mean(-1) / 255.0  # how much of the crop shows at each photo pixel
    cx, cy = map(int, al.to_photo(np.array([[255.5, 255.5]]))[0])
    assert alpha[cy - 60:cy + 60, cx - 60:cx + 60].min() > 0.99  # the edit is fully there
    # No box edge: the weight ramps in over several pixels (a hard paste would jump from 0 to 1).
    assert np.abs(np.diff(alpha, axis=0)).max() < 0.3 and np.abs(np.diff(alpha, axis=1)).max() < 0.3
    assert alpha[:, :120].max() == 0.0 and alpha[220:, :].max() == 0.0  # outside the crop square


def test_face_region_covers_face_and_hair_only():
    labels = np.zeros((512, 512), np.uint8)
    labels[100:400, 150:360] = INDEX["skin"]
    labels[60:100, 140:370] = INDEX["hair"]
    labels[200:220, 180:220] = INDEX["l_eye"]
    labels[430:512, :] = INDEX["cloth"]
    region = face_region(labels)
    assert region.shape == (512, 512) and region.dtype == np.float32
    assert (region[120:380, 170:340] == 1.0).all() and (region[70:90, 160:350] == 1.0).all()
    assert region[0:20].max() == 0.0 and region[480:].max() == 0.0 and region[:, :100].max() == 0.0
    edge = region[250, 360:400]  # feathered, monotone from the face outwards
    assert edge[0] > 0.5 and edge[-1] == 0.0 and (np.diff(edge) <= 1e-6).all()
    wider = face_region(labels, margin=30)
    assert wider.sum() > region.sum()
    with pytest.raises(InvalidArgumentError):
        face_region(labels, margin=-1)


def test_bad_arguments_are_clear(astronaut, aligned512, astronaut_faces):
    crop, al = aligned512
    with pytest.raises(InvalidArgumentError, match="64 to 4096"):
        align_face(astronaut, astronaut_faces[0], 20)
    with pytest.raises(InvalidArgumentError, match="512, 512, 3"):
        paste_back(astronaut, crop[:256, :256], al)
    with pytest.raises(InvalidArgumentError, match="512x512 photo"):
        paste_back(np.zeros((300, 300, 3), np.uint8), crop, al)
    with pytest.raises(InvalidArgumentError, match="region"):
        paste_back(astronaut, crop, al, np.ones((10, 10), np.float32))
    face = astronaut_faces[0]
    assert al.to_crop(face.points(LIPS_OUTER)).min() > 0
