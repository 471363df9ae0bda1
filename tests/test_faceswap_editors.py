"""Face swap in aligned space: the FaceShifter path (synthetic GHOST-layout weights) and the lite mesh swap, on
the example photos; the bad inputs each get their own error."""

from __future__ import annotations

import numpy as np
import pytest

from faceedit.editors.faceshifter import (
    POSE_TEMPLATES_112,
    FaceShifterNets,
    blend_swap,
    estimate_norm,
    face_mask,
    faceshifter_generate,
    faceshifter_swap,
    five_points,
)
from faceedit.editors.faceswap_input import FaceTooSmallError, ProfileTooFarError, SamePhotoError
from faceedit.editors.lite_faceswap import lite_face_swap
from faceedit.errors import InvalidArgumentError
from faceedit.labels import INDEX
from faceedit.models.aei_net import load_aei_net
from faceedit.models.arcface import load_arcface
from tests import ghost_fixtures as GF
from tests.conftest import REPO


@pytest.fixture(scope="module")
def target():
    from faceedit.session import prepare_photo

    return prepare_photo(str(REPO / "assets" / "astronaut.png"), size=512).face


@pytest.fixture(scope="module")
def source():
    from faceedit.session import prepare_photo

    return prepare_photo(str(REPO / "assets" / "grace_hopper.jpg"), size=512).face


@pytest.fixture(scope="module")
def nets() -> FaceShifterNets:
    return FaceShifterNets(load_aei_net(GF.ghost_generator_state(1)), load_arcface(GF.arcface_state()))


def _turned(landmarks: np.ndarray, yaw: float) -> np.ndarray:
    """The mesh rotated about the image vertical through its centroid by ``yaw`` degrees (a head turned aside)."""
    a = np.deg2rad(yaw)
    r = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])
    c = landmarks.mean(0)
    return ((landmarks - c) @ r.T + c).astype(np.float32)


def test_lite_swap_changes_the_face_and_keeps_hair_and_background(target, source):
    out = lite_face_swap(
        target.crop, target.labels, target.landmarks, source.crop, source.landmarks, source.labels
    )
    assert out.crop.shape == target.crop.shape and out.crop.dtype == np.uint8 and out.similarity is None
    diff = np.abs(out.crop.astype(int) - target.crop.astype(int)).sum(-1)
    skin = target.labels == INDEX["skin"]
    assert diff[skin].mean() > 20, "the face must take the source's look"
    for kept in ("hair", "background", "mouth"):
        m = target.labels == INDEX[kept]
        assert m.sum() > 500 and diff[m].max() == 0, f"the target's {kept} must stay byte for byte"
    assert (diff > 0).sum() <= (out.region > 0).sum()
    assert "lite" in out.message


def test_lite_swap_at_strength_zero_is_the_target(target, source):
    out = lite_face_swap(
        target.crop, target.labels, target.landmarks, source.crop, source.landmarks, strength=0.0
    )
    assert np.array_equal(out.crop, target.crop)


def test_faceshifter_swap_changes_only_inside_the_face_region(target, source, nets, one_thread):
    out = faceshifter_swap(nets, target.crop, target.landmarks, source.crop, source.landmarks)
    assert out.crop.shape == target.crop.shape and out.crop.dtype == np.uint8
    outside = out.region == 0
    assert outside.mean() > 0.5 and np.array_equal(out.crop[outside], target.crop[outside])
    nose = target.landmarks[1, :2].round().astype(int)
    assert out.region[nose[1], nose[0]] > 0.95, "the middle of the face is swapped fully"
    hair = target.labels == INDEX["hair"]
    assert out.region[hair].mean() < 0.1, "the target's hair stays"
    changed = np.abs(out.crop.astype(int) - target.crop.astype(int)).sum(-1) > 0
    assert changed[out.region > 0.5].mean() > 0.9
    assert out.similarity is not None and -1.0 <= out.similarity <= 1.0
    assert "GHOST" in out.message and "HEAR-Net" in out.message
    # a strength change re-blends the cached generator output: half strength lies between target and full swap
    generated = faceshifter_generate(nets, target.crop, target.landmarks, source.crop, source.landmarks)
    assert np.array_equal(blend_swap(target.crop, generated, 1.0).crop, out.crop)
    half = blend_swap(target.crop, generated, 0.5)
    inside = out.region > 0.99
    d_half = np.abs(half.crop[inside].astype(int) - target.crop[inside].astype(int)).mean()
    d_full = np.abs(out.crop[inside].astype(int) - target.crop[inside].astype(int)).mean()
    assert 0.4 * d_full < d_half < 0.6 * d_full
    assert np.array_equal(blend_swap(target.crop, generated, 0.0).crop, target.crop)


def test_same_photo_twice_is_refused_by_both_paths(target, nets):
    with pytest.raises(SamePhotoError, match="same face of the same photo"):
        lite_face_swap(target.crop, target.labels, target.landmarks, target.crop, target.landmarks)
    with pytest.raises(SamePhotoError):
        faceshifter_swap(nets, target.crop, target.landmarks, target.crop.copy(), target.landmarks)


def test_small_faces_and_profiles_are_refused(target, source, nets):
    args = (target.crop, target.labels, target.landmarks, source.crop, source.landmarks)
    with pytest.raises(FaceTooSmallError, match="source face is only 40 px"):
        lite_face_swap(*args, source_face_px=40)
    with pytest.raises(ProfileTooFarError, match="target face is turned"):
        lite_face_swap(
            target.crop, target.labels, _turned(target.landmarks, 55), source.crop, source.landmarks
        )
    with pytest.raises(ProfileTooFarError, match="FaceShifter handles up to 60"):
        faceshifter_swap(nets, target.crop, target.landmarks, source.crop, _turned(source.landmarks, -80))
    with pytest.raises(InvalidArgumentError, match="478-point"):
        lite_face_swap(target.crop, target.labels, target.landmarks[:468], source.crop, source.landmarks)
    with pytest.raises(InvalidArgumentError, match="strength"):
        faceshifter_swap(nets, target.crop, target.landmarks, source.crop, source.landmarks, strength=1.5)


def test_ghost_alignment_recovers_a_known_similarity_and_picks_the_pose_template(target):
    frontal = POSE_TEMPLATES_112[2] * 2  # frontal template at 224
    angle, scale, shift = np.deg2rad(12), 1.7, np.array([30.0, -12.0])
    r = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = frontal @ r.T + shift
    m, index = estimate_norm(points)
    assert index == 2
    np.testing.assert_allclose(points @ m[:, :2].T + m[:, 2], frontal, atol=1e-6)
    assert estimate_norm(five_points(target.landmarks))[1] == 2  # the astronaut looks at the camera
    assert estimate_norm(POSE_TEMPLATES_112[0] * 2)[1] == 0  # a left profile gets the profile template


def test_paste_back_mask_is_soft_inside_the_frame(target):
    m, _ = estimate_norm(five_points(target.landmarks))
    lm224 = np.concatenate([target.landmarks[:, :2], np.ones((478, 1))], 1) @ m.T
    mask = face_mask(lm224)
    assert mask.shape == (224, 224) and mask.dtype == np.float32
    assert mask[112, 112] > 0.99 and mask[:5].max() == 0 and mask[:, :5].max() == 0
    assert 0.05 < ((mask > 0) & (mask < 1)).mean() < 0.5, "the edge is blurred"


def test_lite_swap_keeps_the_targets_glasses_when_they_are_labelled(target, source):
    labels = target.labels.copy()
    eyes = np.isin(labels, [INDEX["l_eye"], INDEX["r_eye"]])
    ys, xs = np.nonzero(eyes)
    glasses = np.zeros_like(eyes)
    glasses[ys.min() - 12 : ys.max() + 12, xs.min() - 15 : xs.max() + 15] = True  # frames and lenses
    labels[glasses & (labels != INDEX["hair"])] = INDEX["eye_g"]
    out = lite_face_swap(target.crop, labels, target.landmarks, source.crop, source.landmarks)
    lens = labels == INDEX["eye_g"]
    assert np.array_equal(out.crop[lens], target.crop[lens]), (
        "what the parser calls glasses stays the target's"
    )
    assert not np.array_equal(out.crop[labels == INDEX["skin"]], target.crop[labels == INDEX["skin"]])
    assert "glasses kept" in out.message
    plain = lite_face_swap(target.crop, target.labels, target.landmarks, source.crop, source.landmarks)
    assert "only when the parser labels them" in plain.message
