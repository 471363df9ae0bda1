"""Issue 23 on the GAN paths: the paste-back keeps glasses and hands unless the edit is about them.

Small synthetic networks (the 16 px StyleGAN2 of ``test_gan_engine``, a toy encoder and seg-to-face) on
the astronaut photo; the parse is the offline parser's with a glasses band and a hand patch added, so
the photo has something to keep.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from helpers import gan_composer
from test_gan_engine import STYLE_DIM, networks  # noqa: F401 - the module's networks fixture

from faceedit.directions import Direction, DirectionLibrary
from faceedit.labels import INDEX
from faceedit.parsing.landmark import LandmarkParser, Parsing
from faceedit.session import Session


@pytest.fixture(scope="module")
def nets(networks: dict) -> dict:  # noqa: F811 - the imported fixture
    """``test_gan_engine``'s networks with smile, pose and eyeglasses directions."""
    rng = np.random.default_rng(1)
    lib = DirectionLibrary([Direction(n, rng.standard_normal((1, STYLE_DIM)), scale=4.0)
                            for n in ("smile", "pose", "eyeglasses")])
    return {**networks, "directions": lib}


def _with_accessories(crop: np.ndarray) -> Parsing:
    """The offline parse of ``crop`` plus glasses frames across the eyes and a hand over the mouth's corner."""
    from faceedit.parsing.landmark import central_face

    parsing = LandmarkParser().parse_detailed(crop)
    lm = central_face(crop).landmarks
    labels = parsing.labels.copy()
    eye_y = int(round(lm[[33, 263], 1].mean()))
    x0, x1 = int(lm[33, 0]) - 20, int(lm[263, 0]) + 20
    band = np.zeros(labels.shape, bool)
    band[eye_y - 30:eye_y - 10, x0:x1] = True  # the frames' top bar, over skin and brows
    labels[band & ~np.isin(labels, [INDEX["l_eye"], INDEX["r_eye"]])] = INDEX["eye_g"]
    occluder = np.zeros(labels.shape, bool)
    cx, cy = np.round(lm[61, :2]).astype(int)
    occluder[cy - 30:cy + 30, cx - 30:cx + 30] = True
    labels[occluder] = INDEX["background"]
    return Parsing(labels, occluder, {"eye_g": "test frames", "occluder": "a test hand"})


def _session(nets: dict, astronaut: np.ndarray, accessories: bool) -> Session:
    composer = gan_composer(**nets)
    if accessories:
        composer.parse_detailed = lambda crop, engine="lite": _with_accessories(crop)  # type: ignore[method-assign]
    return Session.from_photo(astronaut, engine="gan", composer=composer)


def _in_photo(s: Session, mask: np.ndarray) -> np.ndarray:
    """A crop-space mask, shrunk by 3 px (the feathered rim), carried into the photo."""
    inner = cv2.erode(mask.astype(np.uint8), np.ones((7, 7), np.uint8))
    m = np.asarray(s.alignment.matrix, np.float64)
    h, w = s.original.shape[:2]
    return cv2.warpAffine(inner, m, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP).astype(bool)


def test_a_slider_keeps_the_glasses_and_the_hand_in_the_full_photo(nets, astronaut) -> None:
    s = _session(nets, astronaut, accessories=True)
    assert s.occluder is not None and s.parse_notes["occluder"] == "a test hand"
    glasses = s.initial_labels == INDEX["eye_g"]
    glasses_px, hand_px = _in_photo(s, glasses), _in_photo(s, s.occluder)
    assert glasses_px.sum() > 100 and hand_px.sum() > 150
    plain = _session(nets, astronaut, accessories=False).set_attributes({"smile": 2.0})
    # Without accessories in the parse the GAN redraws those very pixels ...
    assert np.any(plain.image[glasses_px] != astronaut[glasses_px])
    assert np.any(plain.image[hand_px] != astronaut[hand_px])
    r = s.set_attributes({"smile": 2.0})
    # ... with them, the photo keeps them byte for byte while the face around them changes.
    assert np.array_equal(r.image[glasses_px], astronaut[glasses_px])
    assert np.array_equal(r.image[hand_px], astronaut[hand_px])
    assert np.any(r.image != astronaut)
    assert np.array_equal(r.crop[glasses], s.crop[glasses]), "the close-up keeps them too"
    # A slider about glasses may change them; the hand stays.
    g = s.set_attributes({"smile": 0.0, "eyeglasses": 2.0})
    assert np.any(g.image[glasses_px] != astronaut[glasses_px])
    assert np.array_equal(g.image[hand_px], astronaut[hand_px])
    # Turning the head moves accessories with it: nothing is held in place.
    t = s.set_attributes({"eyeglasses": 0.0, "pose": 2.0})
    assert np.any(t.image[hand_px] != astronaut[hand_px])


def test_a_mask_edit_that_paints_the_glasses_may_change_them(nets, astronaut) -> None:
    s = _session(nets, astronaut, accessories=True)
    glasses = s.initial_labels == INDEX["eye_g"]
    glasses_px, hand_px = _in_photo(s, glasses), _in_photo(s, s.occluder)
    # Paint the frames away (skin), and widen the lips: both redraw; only the glasses class is edited.
    new = s.labels.copy()
    new[glasses] = INDEX["skin"]
    r = s.edit_mask(new)
    assert r.engine == "gan"
    assert np.any(r.image[glasses_px] != astronaut[glasses_px])
    assert np.array_equal(r.image[hand_px], astronaut[hand_px])
    # The removal holds for later sliders: the frames do not come back from the photo.
    after = s.set_attributes({"smile": 1.0})
    assert np.any(after.image[glasses_px] != astronaut[glasses_px])
    # A mask edit elsewhere keeps them.
    s2 = _session(nets, astronaut, accessories=True)
    other = s2.labels.copy()
    other[cv2.dilate((other == INDEX["hair"]).astype(np.uint8), np.ones((21, 21))).astype(bool)
          & (other == INDEX["background"])] = INDEX["hair"]
    kept = s2.edit_mask(other)
    assert np.any(kept.image != astronaut)
    assert np.array_equal(kept.image[glasses_px], astronaut[glasses_px])


def test_the_lite_smile_keeps_a_hand_over_the_mouth(astronaut) -> None:
    from faceedit.editors.composer import Composer
    from faceedit.editors.lite import lite_editors

    plain = Session.from_photo(astronaut, engine="lite", composer=Composer(lite_editors(), forced="lite"))
    composer = Composer(lite_editors(), forced="lite")
    composer.parse_detailed = lambda crop, engine="lite": _with_accessories(crop)  # type: ignore[method-assign]
    s = Session.from_photo(astronaut, engine="lite", composer=composer)
    hand, hand_px = s.occluder, _in_photo(s, s.occluder)
    moved = plain.set_attributes({"smile": 2.0})
    assert np.any(moved.crop[hand] != plain.crop[hand]), "the smile moves the mouth corner under the hand"
    r = s.set_attributes({"smile": 2.0})
    assert np.array_equal(r.crop[hand], s.crop[hand]) and np.array_equal(r.image[hand_px], astronaut[hand_px])
    assert np.any(r.crop != s.crop)
    p = s.preview_attributes({"smile": 2.0})  # the preview keeps it too
    assert np.array_equal(p.image[hand_px], astronaut[hand_px])
