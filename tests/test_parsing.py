"""Offline face parsing on real photos: the parts a person would point at, where they would point."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from faceedit.align import align_face, face_region, paste_back
from faceedit.errors import NoFaceFoundError
from faceedit.imaging import load_image
from faceedit.labels import CLASSES, INDEX, NUM_CLASSES, overlay
from faceedit.landmarks import FACE_OVAL, detect_faces
from faceedit.parsing import Parser, landmark_parser
from faceedit.parsing.landmark import LandmarkParser, central_face


def _parse_photo(photo: np.ndarray, index: int = 0, size: int = 512):
    crop, al = align_face(photo, detect_faces(photo)[index], size)
    face = central_face(crop)
    return crop, al, face, LandmarkParser().parse(crop, face=face)


@pytest.fixture(scope="module")
def parsed(astronaut):
    return _parse_photo(astronaut)


@pytest.fixture(scope="module")
def hopper() -> np.ndarray:
    from matplotlib import cbook

    with cbook.get_sample_data("grace_hopper.jpg") as fh:  # public-domain US Navy portrait shipped by matplotlib
        return load_image(fh.read())


def centroid(labels: np.ndarray, name: str) -> np.ndarray:
    ys, xs = np.nonzero(labels == INDEX[name])
    assert len(xs), f"{name} missing"
    return np.array([xs.mean(), ys.mean()])


def check_face_layout(labels: np.ndarray) -> None:
    """What a person checks first: the parts are there, in their places, left and right the right way round."""
    size = labels.shape[0]
    area = {name: int((labels == i).sum()) for i, name in enumerate(CLASSES)}
    for name in ("l_eye", "r_eye", "l_brow", "r_brow", "u_lip", "l_lip"):
        assert area[name] > 0.0008 * size * size, (name, area[name])
    assert area["nose"] > 0.01 * size * size
    assert area["skin"] > 0.1 * size * size
    assert area["hair"] + area["hat"] > 0.03 * size * size  # a cap hides most of Grace Hopper's hair
    eyes_y = (centroid(labels, "l_eye")[1] + centroid(labels, "r_eye")[1]) / 2
    brows_y = (centroid(labels, "l_brow")[1] + centroid(labels, "r_brow")[1]) / 2
    mouth_y = (centroid(labels, "u_lip")[1] + centroid(labels, "l_lip")[1]) / 2
    assert brows_y < eyes_y < centroid(labels, "nose")[1] < mouth_y
    assert centroid(labels, "u_lip")[1] < centroid(labels, "l_lip")[1]
    # "l_" is the person's left: the image right.
    assert centroid(labels, "l_eye")[0] > centroid(labels, "r_eye")[0] + 0.1 * size
    assert centroid(labels, "l_brow")[0] > centroid(labels, "r_brow")[0] + 0.1 * size
    assert np.nonzero(np.isin(labels, (INDEX["hair"], INDEX["hat"])))[0].mean() < eyes_y  # on top of the head


def test_astronaut_parts_present_and_in_place(parsed):
    crop, _, face, labels = parsed
    assert labels.shape == (512, 512) and labels.dtype == np.uint8 and labels.max() < NUM_CLASSES
    check_face_layout(labels)


def test_eyes_lie_inside_the_face_oval(parsed):
    _, _, face, labels = parsed
    oval = np.zeros(labels.shape, np.uint8)
    cv2.fillPoly(oval, [np.round(face.points(FACE_OVAL) - 0.5).astype(np.int32)], 1)
    for name in ("l_eye", "r_eye"):
        eye = labels == INDEX[name]
        assert eye.sum() > 200 and oval[eye].all()
        ring = cv2.dilate(eye.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool) & ~eye
        around = labels[ring]
        assert np.isin(around, [INDEX["skin"], INDEX["l_brow"], INDEX["r_brow"], INDEX["nose"], INDEX["hair"]]).mean() > 0.9


def test_astronaut_regions_where_a_person_sees_them(parsed):
    crop, _, face, labels = parsed
    assert labels[5, 5] == INDEX["background"] and labels[5, -5] == INDEX["background"]  # the studio wall
    assert labels[60, 256] == INDEX["hair"]  # the top of her head
    assert labels[300, 256] in (INDEX["nose"], INDEX["skin"])
    chin_x, chin_y = face.landmarks[152, :2]
    assert labels[int(chin_y) + 15, int(chin_x)] == INDEX["neck"]  # just below the chin
    assert labels[505, 256] in (INDEX["cloth"], INDEX["neck"])  # her collar
    assert (labels[500:, :60] == INDEX["cloth"]).mean() > 0.5  # the suit, bottom left
    # The teeth of her smile are inner mouth, between the lips.
    assert (labels == INDEX["mouth"]).sum() > 500
    assert centroid(labels, "u_lip")[1] < centroid(labels, "mouth")[1] < centroid(labels, "l_lip")[1]


def test_second_real_photo(hopper):
    crop, _, _, labels = _parse_photo(hopper)
    check_face_layout(labels)


def test_exif_rotated_photo_gives_the_same_labels(astronaut, parsed):
    stored = Image.fromarray(np.rot90(astronaut, k=1).copy())  # the camera kept it sideways ...
    exif = Image.Exif()
    exif[0x0112] = 6  # ... and said "rotate 90 deg clockwise to display"
    buf = io.BytesIO()
    stored.save(buf, format="JPEG", quality=95, exif=exif)
    photo = load_image(buf.getvalue())
    assert photo.shape == astronaut.shape
    _, _, _, labels = _parse_photo(photo)
    ref = parsed[3]
    assert (labels == ref).mean() > 0.93
    for name in ("l_eye", "r_eye", "nose", "u_lip", "l_lip", "hair", "skin"):
        a, b = labels == INDEX[name], ref == INDEX[name]
        assert (a & b).sum() / (a | b).sum() > 0.7, name


def test_two_faces_side_by_side_are_both_parsed(two_faces_photo, astronaut, hopper):
    faces = detect_faces(two_faces_photo)
    assert len(faces) == 2
    for i in range(2):
        check_face_layout(_parse_photo(two_faces_photo, i, 256)[3])
    # Two different people side by side: each face parses as itself.
    scale = 512 / hopper.shape[0]
    pair = np.concatenate([astronaut, cv2.resize(hopper, (round(hopper.shape[1] * scale), 512))], axis=1)
    found = detect_faces(pair)
    assert len(found) == 2 and {f.center[0] < 512 for f in found} == {True, False}


def test_unedited_paste_back_with_the_real_face_region(astronaut, parsed):
    crop, al, _, labels = parsed
    region = face_region(labels)
    assert region[300, 256] == 1.0 and region[5, 5] == 0.0
    back = paste_back(astronaut, crop, al, region)
    weight = cv2.warpAffine(region, al.inverse, (512, 512), flags=cv2.INTER_LINEAR)
    inside = weight > 0
    mse = np.mean((back[inside].astype(float) - astronaut[inside].astype(float)) ** 2)
    assert 10 * np.log10(255**2 / mse) > 35
    outside = cv2.dilate(inside.astype(np.uint8), np.ones((5, 5), np.uint8)) == 0
    assert outside.sum() > 100_000
    np.testing.assert_array_equal(back[outside], astronaut[outside])


def test_parser_protocol_and_overlay(parsed):
    crop, _, _, labels = parsed
    parser = landmark_parser()
    assert isinstance(parser, Parser) and parser.name == "landmark"
    ov = overlay(crop, labels)
    assert ov.shape == crop.shape and ov.dtype == np.uint8
    bg = labels == 0
    inner = cv2.erode(bg.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    np.testing.assert_array_equal(ov[inner], crop[inner])  # background stays the photo
    assert np.abs(ov[labels == INDEX["hair"]].astype(int) - crop[labels == INDEX["hair"]]).mean() > 10


def test_no_face_in_the_crop():
    with pytest.raises(NoFaceFoundError, match="No face"):
        LandmarkParser().parse(np.full((256, 256, 3), 120, np.uint8))


def test_grayscale_photo_still_parses(parsed):
    """Without colour the hair/skin split relies on lightness; highlights in the hair must stay hair."""
    crop = parsed[0]
    gray = np.repeat(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    labels = LandmarkParser().parse(gray)
    check_face_layout(labels)
    top = labels[20:130, 150:360]
    assert (top == INDEX["hair"]).mean() > 0.9 and (top == INDEX["skin"]).sum() == 0


def test_get_parser_names_and_offline_fallback(monkeypatch):
    import faceedit.parsing as parsing
    from faceedit.errors import InvalidArgumentError

    assert parsing.get_parser("landmark").name == "landmark"
    monkeypatch.setattr(parsing, "bisenet_available", lambda: False)
    assert parsing.get_parser("auto").name == "landmark"  # no weights: the offline parser, never a download
    with pytest.raises(InvalidArgumentError, match="auto, landmark, bisenet"):
        parsing.get_parser("dlib")


@pytest.mark.parametrize("size", [256, 1024])
def test_other_crop_sizes_parse_alike(astronaut, parsed, size):
    labels = _parse_photo(astronaut, size=size)[3]
    check_face_layout(labels)
    same = cv2.resize(labels, (512, 512), interpolation=cv2.INTER_NEAREST)
    assert (same == parsed[3]).mean() > 0.9  # the parsing does not depend on the crop's resolution
