"""The lite engine on a real photo, driven through the Session as the UI drives it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceedit.editors import lite_ops as lite
from faceedit.editors.lite import landmark_parse
from faceedit.editors.lite_texture import dilate
from faceedit.errors import InvalidArgumentError, UnsupportedEditError
from faceedit.labels import COMPONENTS, INDEX
from faceedit.landmarks import detect_faces
from faceedit.session import Session


@pytest.fixture(scope="module")
def grace_hopper() -> np.ndarray:
    """Grace Hopper's official US Navy portrait (public domain), shipped as matplotlib sample data."""
    import matplotlib.cbook as cbook
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        return np.asarray(Image.open(f).convert("RGB")).copy()


@pytest.fixture(scope="module")
def session(astronaut: np.ndarray) -> Session:
    return Session.from_photo(astronaut, engine="lite")


def _mesh(crop: np.ndarray) -> np.ndarray:
    faces = detect_faces(crop, max_faces=1)
    assert faces, "the edited crop must still show a face"
    return faces[0].landmarks


def test_sliders_at_zero_return_the_photo_bit_for_bit(session: Session, astronaut: np.ndarray) -> None:
    result = session.set_attributes({"smile": 0.0, "age": 0.0, "pose": 0.0, "pitch": 0.0})
    assert result.engine == "lite" and result.device == "cpu"
    assert np.array_equal(result.image, astronaut)
    assert np.array_equal(result.crop, session.crop)


def test_smile_changes_the_mouth_and_raises_its_corners(session: Session) -> None:
    result = session.set_attributes({"smile": 2.0})
    diff = np.abs(result.crop.astype(np.int16) - session.crop.astype(np.int16)).sum(-1)
    mouth = dilate(np.isin(session.labels, COMPONENTS["mouth"]), 10)
    eyes = dilate(np.isin(session.labels, COMPONENTS["eyes"]), 10)
    assert diff[mouth].mean() > 4 * max(diff[eyes].mean(), 0.5)
    before, after = _mesh(session.crop), _mesh(result.crop)
    corners = list(lite.geo.MOUTH_CORNERS)
    assert (before[corners, 1] - after[corners, 1]).min() > 4.0  # both corners move up (smaller y)
    # Outside the face the photo is untouched.
    assert np.array_equal(result.image[:, :100], session.original[:, :100])
    session.set_attributes({"smile": 0.0})


@pytest.mark.parametrize("value", [1.5, -1.5])
def test_pose_moves_the_nose_tip_the_documented_way(session: Session, value: float) -> None:
    result = session.set_attributes({"pose": value})
    before, after = _mesh(session.crop), _mesh(result.crop)
    shift = after[lite.geo.NOSE_TIP, 0] - before[lite.geo.NOSE_TIP, 0]
    assert np.sign(shift) == np.sign(value) and abs(shift) > 8.0  # pose > 0: nose toward the image right
    session.set_attributes({"pose": 0.0})


def test_age_is_labelled_approximate_and_greys_the_hair(session: Session) -> None:
    result = session.set_attributes({"age": 2.5})
    assert "approximate" in result.message
    hair = session.labels == INDEX["hair"]
    sat = lambda img: (img.max(-1).astype(int) - img.min(-1).astype(int))[hair].mean()  # noqa: E731
    assert sat(result.crop) < 0.8 * sat(session.crop)
    session.set_attributes({"age": 0.0})


def test_out_of_range_or_unknown_sliders_are_refused(session: Session) -> None:
    with pytest.raises(InvalidArgumentError, match="-3..3"):
        session.set_attributes({"smile": 7})
    with pytest.raises(InvalidArgumentError, match="smile"):
        session.set_attributes({"beard": 1})


def test_swap_changes_only_the_components_plus_margin(astronaut: np.ndarray, grace_hopper: np.ndarray) -> None:
    s = Session.from_photo(astronaut, engine="lite")
    result = s.swap(grace_hopper, ["eyes", "mouth"])
    assert result.engine == "lite"
    comps = COMPONENTS["eyes"] + COMPONENTS["mouth"]
    allowed = dilate(np.isin(s.initial_labels, comps) | np.isin(s.labels, comps), 2 * lite.SWAP_MARGIN)
    changed = np.any(result.crop != s.crop, -1)
    assert changed[np.isin(s.initial_labels, COMPONENTS["mouth"])].mean() > 0.5
    assert not (changed & ~allowed).any()
    # In the full photo, every changed pixel maps into the allowed crop region.
    ys, xs = np.nonzero(np.any(result.image != astronaut, -1))
    m = np.asarray(s.alignment.matrix)
    cx, cy = (m[:, :2] @ np.stack([xs, ys]) + m[:, 2:3]).round().astype(int)
    inside = (cx >= 0) & (cx < 512) & (cy >= 0) & (cy < 512)
    assert inside.all() and dilate(allowed, 4)[cy, cx].all()
    # Hair: only the old and the new hair region (plus the blend margin) change.
    s.undo()
    hair = s.swap(grace_hopper, ["hair"])
    changed = np.any(hair.crop != s.crop, -1)
    region = (s.initial_labels == INDEX["hair"]) | (s.labels == INDEX["hair"])
    assert changed.any() and not (changed & ~dilate(region, 2 * lite.SWAP_MARGIN)).any()


def test_enlarging_the_lips_in_the_map_enlarges_the_parsed_lips(astronaut: np.ndarray) -> None:
    s = Session.from_photo(astronaut, engine="lite")
    lips = np.isin(s.labels, COMPONENTS["mouth"])
    ys, xs = np.nonzero(lips)
    cy, cx = ys.mean(), xs.mean()
    yy, xx = np.mgrid[:512, :512]
    # Scale the mouth's painted region by 1.3 about its centre.
    src_y = np.clip(np.rint(cy + (yy - cy) / 1.3), 0, 511).astype(int)
    src_x = np.clip(np.rint(cx + (xx - cx) / 1.3), 0, 511).astype(int)
    scaled = s.labels[src_y, src_x]
    new = s.labels.copy()
    grown = np.isin(scaled, COMPONENTS["mouth"])
    new[grown] = scaled[grown]
    new[lips & ~grown] = INDEX["skin"]
    result = s.edit_mask(new)
    reparsed = landmark_parse(result.crop)
    assert np.isin(reparsed, COMPONENTS["mouth"]).sum() > 1.15 * lips.sum()


def test_undo_and_redo_restore_results_exactly(astronaut: np.ndarray) -> None:
    s = Session.from_photo(astronaut, engine="lite")
    first = s.set_attributes({"smile": 1.0})
    second = s.set_attributes({"pose": -1.0})
    assert s.values == {"smile": 1.0, "pose": -1.0}
    back = s.undo()
    assert np.array_equal(back.image, first.image) and np.array_equal(back.crop, first.crop)
    assert np.array_equal(s.redo().image, second.image)
    s.undo()
    s.undo()
    assert np.array_equal(s.current.image, astronaut)
    assert np.array_equal(s.undo().image, astronaut)  # nothing before the start


def test_what_it_cannot_draw_is_said_plainly(astronaut: np.ndarray) -> None:
    s = Session.from_photo(astronaut, engine="lite")
    new = s.labels.copy()
    eyes = np.isin(new, COMPONENTS["eyes"])
    band = dilate(eyes, 14) & ~eyes & (new == INDEX["skin"])
    only_glasses = new.copy()
    only_glasses[band] = INDEX["eye_g"]
    with pytest.raises(UnsupportedEditError, match="GAN engine"):
        s.edit_mask(only_glasses)
    # Together with an edit it can do, the rest is applied and the message says what was not.
    both = only_glasses.copy()
    both[dilate(s.labels == INDEX["hair"], 12) & (s.labels == INDEX["background"])] = INDEX["hair"]
    result = s.edit_mask(both)
    assert "glasses" in result.message and "GAN engine" in result.message
    assert not np.array_equal(result.crop, s.crop)


def test_hair_grows_and_shrinks_with_the_map(session: Session) -> None:
    labels = session.labels
    hair, background = labels == INDEX["hair"], labels == INDEX["background"]
    rows = np.arange(512)[:, None]
    cut = hair & (rows < np.nonzero(hair)[0].min() + 40)  # the top 40 px of hair painted as background
    grow = dilate(hair, 15) & background & (rows < 300)  # a band of new hair around the sides and top
    new = labels.copy()
    new[cut] = INDEX["background"]
    new[grow] = INDEX["hair"]
    result = session.edit_mask(new)
    lab = lambda img: cv2.cvtColor(img, cv2.COLOR_RGB2LAB).astype(float)  # noqa: E731
    before, after = lab(session.crop), lab(result.crop)
    bg_mean, hair_mean = before[background].mean(0), before[hair].mean(0)
    # The cut area now looks like the backdrop, the new band like hair.
    assert np.linalg.norm(after[cut].mean(0) - bg_mean) < 0.5 * np.linalg.norm(before[cut].mean(0) - bg_mean)
    assert np.linalg.norm(after[grow].mean(0) - hair_mean) < 0.5 * np.linalg.norm(before[grow].mean(0) - hair_mean)
    session.undo()


def test_conditions_are_for_the_gan_engine(session: Session) -> None:
    with pytest.raises(UnsupportedEditError, match="GAN"):
        session.set_attributes({"smile": 1.0}, conditions={"smile": ["age"]})
