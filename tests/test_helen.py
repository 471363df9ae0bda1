"""19 <-> 11 class conversion between the project's maps and the Helen order of Gu et al. 2019."""

from __future__ import annotations

import numpy as np
import pytest

from faceedit.errors import InvalidArgumentError
from faceedit.helen import FROM_HELEN, TO_HELEN, from_helen, to_helen
from faceedit.labels import INDEX
from faceedit.mask_guided_official import component_centres


@pytest.fixture(scope="module")
def parsed_astronaut(astronaut):
    """A real photo, aligned to 256 px and parsed by the offline LandmarkParser (19 classes)."""
    from faceedit.align import align_face
    from faceedit.landmarks import select_face
    from faceedit.parsing.landmark import LandmarkParser

    crop, _ = align_face(astronaut, select_face(astronaut), size=256)
    return crop, LandmarkParser().parse(crop)


def test_real_parsed_photo_round_trips_and_feeds_the_model(parsed_astronaut):
    _, labels = parsed_astronaut
    helen = to_helen(labels)
    assert helen.dtype == np.uint8 and helen.max() <= 10
    # the person's left eye is on the image right: Helen's "right eye" (5)
    ys, xs = np.nonzero(labels == INDEX["l_eye"])
    assert xs.size and (helen[ys, xs] == 5).all()
    ys, xs = np.nonzero(labels == INDEX["r_brow"])
    assert xs.size and (helen[ys, xs] == 2).all()
    assert np.array_equal(from_helen(helen, reference=labels), labels)
    # what the Helen set lacks is folded as documented: ears, neck, cloth -> background
    for name in ("l_ear", "r_ear", "neck", "cloth"):
        assert (helen[labels == INDEX[name]] == 0).all()
    # and the converted map is a valid input of the generator (components within the crop windows)
    y_le, x_le, y_re, x_re, y_m, x_m = component_centres(helen)
    assert x_le < 128 < x_re and y_m > y_le


def test_eyes_and_brows_go_by_image_side_not_by_name():
    labels = np.zeros((256, 256), np.uint8)
    labels[60:200, 60:196] = INDEX["skin"]
    labels[100:110, 80:100] = INDEX["l_eye"]  # mislabelled: "person's left" on the image left
    labels[100:110, 150:170] = INDEX["l_eye"]
    labels[85:90, 80:100] = INDEX["r_brow"]
    labels[85:90, 150:170] = INDEX["r_brow"]
    helen = to_helen(labels)
    assert (helen[100:110, 80:100] == 4).all() and (helen[100:110, 150:170] == 5).all()
    assert (helen[85:90, 80:100] == 2).all() and (helen[85:90, 150:170] == 3).all()
    back = from_helen(helen)
    assert (back[100:110, 80:100] == INDEX["r_eye"]).all() and (back[100:110, 150:170] == INDEX["l_eye"]).all()


def test_tables_cover_every_class_and_invert_on_the_shared_ones():
    assert TO_HELEN.shape == (19,) and FROM_HELEN.shape == (11,)
    for helen in (0, 1, 6, 7, 8, 9, 10):
        assert TO_HELEN[FROM_HELEN[helen]] == helen
    assert TO_HELEN[INDEX["eye_g"]] == 1 and TO_HELEN[INDEX["hat"]] == 0


def test_bad_maps_raise():
    with pytest.raises(InvalidArgumentError, match="values 0..10"):
        from_helen(np.full((4, 4), 11, np.uint8))
    with pytest.raises(InvalidArgumentError, match="must match"):
        from_helen(np.zeros((4, 4), np.uint8), reference=np.zeros((5, 5), np.uint8))
    with pytest.raises(InvalidArgumentError):
        to_helen(np.full((4, 4), 30, np.uint8))
