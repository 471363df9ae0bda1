"""Landmark-based L2M high-pass masks (the approximation used when a checkpoint has no FAN)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceedit.errors import InvalidArgumentError
from faceedit.l2m_masks import masks_from_landmarks

#: MediaPipe face mesh of scikit-image's astronaut (512²), made with mediapipe 0.10.14 FaceMesh(refine_landmarks).
MESH = Path(__file__).parent / "data" / "l2m" / "astronaut_mesh.npy"


def test_masks_cover_the_regions_of_the_fan_recipe():
    lm = np.load(MESH)[:, :2] * 0.5  # into the 256² L2M input
    m0, m1 = masks_from_landmarks(lm, size=256)
    assert m0.shape == m1.shape == (1, 1, 256, 256)
    assert float(m0.min()) >= 0 and float(m0.max()) <= 1
    at = lambda m, p: float(m[0, 0, int(round(p[1])), int(round(p[0]))])  # noqa: E731
    mouth = lm[[13, 14]].mean(axis=0)
    left_eye, right_eye = lm[[33, 133]].mean(axis=0), lm[[362, 263]].mean(axis=0)
    nose = lm[4]
    for p in (mouth, left_eye, right_eye, nose):
        assert at(m0, p) > 0.5
    for p in (left_eye, right_eye, nose):
        assert at(m1, p) > 0.5
    assert at(m1, mouth) < 0.05  # the second mask leaves out the mouth (and jaw, brows)
    assert float((m1 - m0).max()) <= 1e-6  # m1 is inside m0
    assert float(m0[..., :20, :].max()) == 0 and float(m0[..., -20:, :].max()) == 0  # nothing far off the face


def test_masks_scale_with_the_input_size():
    lm = np.load(MESH)[:, :2]
    m0, _ = masks_from_landmarks(lm, size=512)
    m0_small, _ = masks_from_landmarks(lm * 0.5, size=256)
    assert m0.shape[-1] == 512
    assert abs(float(m0.mean()) - float(m0_small.mean())) < 0.2 * float(m0_small.mean())


def test_bad_landmarks_are_refused():
    with pytest.raises(InvalidArgumentError, match="478"):
        masks_from_landmarks(np.zeros((68, 2)))
    bad = np.load(MESH)[:, :2].copy()
    bad[0, 0] = np.nan
    with pytest.raises(InvalidArgumentError, match="finite"):
        masks_from_landmarks(bad)


def test_masks_for_an_aligned_photo(astronaut):
    from faceedit.align import align_face
    from faceedit.l2m_masks import masks_for_image
    from faceedit.landmarks import select_face

    crop, _ = align_face(astronaut, select_face(astronaut), size=256)
    m0, m1 = masks_for_image(crop)
    face = select_face(crop)
    nose = face.landmarks[1, :2].round().astype(int)
    assert float(m0[0, 0, nose[1], nose[0]]) > 0.5 and float(m1[0, 0, nose[1], nose[0]]) > 0.5
    assert 0.02 < float(m1.mean()) < float(m0.mean()) < 0.5  # aligned face: sizeable, not everything
