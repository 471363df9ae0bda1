"""Face swap in the product: Session.run("face_swap"), the ``faceswap`` command (single and batch), the
``/face_swap`` endpoint through gradio_client and the tab's handlers; every bad input gets its own message.

The GAN path runs a tiny generator with GHOST's key names (tests/ghost_fixtures.py) and the full-size seeded
ArcFace layout; the lite path needs nothing.  Photos: the astronaut (target) and Grace Hopper (source).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import client as _client
from helpers import read_rgb as _rgb
from PIL import Image

from faceedit.editors.composer import Composer
from faceedit.editors.face_swap import FaceShifterSwap, LiteFaceSwap
from faceedit.editors.lite import lite_editors
from faceedit.session import Session
from tests import ghost_fixtures as GF
from tests.conftest import REPO

ASTRONAUT = REPO / "assets" / "astronaut.png"
HOPPER = REPO / "assets" / "grace_hopper.jpg"
TWO_FACES = REPO / "assets" / "two_faces.jpg"


@pytest.fixture(scope="module")
def nets():
    return GF.tiny_nets()


@pytest.fixture(scope="module")
def gan(nets) -> Composer:
    return Composer([FaceShifterSwap(nets), *lite_editors()])


@pytest.fixture(scope="module")
def bad_photos(tmp_path_factory) -> dict[str, str]:
    """A photo without a face, and the astronaut shrunk so that her face is about 45 px wide."""
    from skimage import data

    d = tmp_path_factory.mktemp("bad")
    cup = d / "coffee.png"
    Image.fromarray(data.coffee()).save(cup)
    small = np.full((512, 512, 3), 128, np.uint8)
    small[:256, :256] = np.asarray(Image.open(ASTRONAUT).convert("RGB").resize((256, 256), Image.LANCZOS))
    tiny = d / "tiny_face.png"
    Image.fromarray(small).save(tiny)
    return {"no_face": str(cup), "small": str(tiny)}


def _face_zone(photo: Path) -> np.ndarray:
    """The target face's mesh hull in the photo, grown by 12 px: where a face swap may show."""
    import cv2

    from faceedit.imaging import load_image
    from faceedit.landmarks import detect_faces

    img = load_image(photo)
    lm = detect_faces(img)[0].landmarks[:, :2].astype(np.int32)
    zone = np.zeros(img.shape[:2], np.uint8)
    cv2.fillConvexPoly(zone, cv2.convexHull(lm), 1)
    return cv2.dilate(zone, np.ones((25, 25), np.uint8)) > 0


def _counted(module) -> list[int]:
    calls = [0]
    module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


# --------------------------------------------------------------------------- Session


def test_gan_swap_changes_only_the_face_keeps_the_size_and_reblends_without_networks(gan, nets, one_thread):
    s = Session.from_photo(str(ASTRONAUT), composer=gan)
    r = s.run("face_swap", source=str(HOPPER))
    assert r.engine == "gan" and r.image.shape == s.original.shape
    assert "FaceShifter" in r.message and "HEAR-Net" in r.message
    assert -1 <= r.scores["identity_similarity"] <= 1
    changed = np.any(r.image != s.original, -1)
    assert changed.sum() > 2000 and not (changed & ~_face_zone(ASTRONAUT)).any(), "only the face changes"

    g_calls, id_calls = _counted(nets.generator), _counted(nets.arcface)
    half = s.run("face_swap", source=str(HOPPER), strength=0.5)
    assert g_calls[0] == 0 and id_calls[0] == 0, "a strength change re-blends the cached result"
    d_half = np.abs(half.image.astype(int) - s.original).sum()
    d_full = np.abs(r.image.astype(int) - s.original).sum()
    assert 0.3 * d_full < d_half < 0.7 * d_full, "the half blend lies between the photo and the full swap"
    assert np.array_equal(s.undo().image, r.image) and np.array_equal(s.undo().image, s.original)
    assert np.array_equal(s.redo().image, r.image)


def test_lite_swap_in_the_photo_keeps_hair_and_background(one_thread):
    from faceedit.labels import INDEX

    s = Session.from_photo(str(ASTRONAUT), composer=Composer(lite_editors()))
    r = s.run("face_swap", source=str(HOPPER))
    assert r.engine == "lite" and r.image.shape == s.original.shape and r.scores == {}
    crop_diff = np.abs(r.crop.astype(int) - s.crop).sum(-1)
    labels = s.initial_labels
    assert crop_diff[labels == INDEX["skin"]].mean() > 20
    assert crop_diff[np.isin(labels, [INDEX["hair"], INDEX["background"]])].max() == 0
    assert not (np.any(r.image != s.original, -1) & ~_face_zone(ASTRONAUT)).any()


def test_lite_swap_reports_similarity_when_the_arcface_backbone_is_there(nets, one_thread):
    lite = LiteFaceSwap(nets)
    s = Session.from_photo(str(ASTRONAUT), composer=Composer([lite, *lite_editors()]))
    r = s.run("face_swap", source=str(HOPPER))
    assert r.engine == "lite" and -1 <= r.scores["identity_similarity"] <= 1
    assert "identity similarity" in r.message


def test_the_composer_prefers_the_gan_editor_and_engine_lite_forces_the_lite_one(gan):
    assert gan.engine_for("face_swap") == "gan"
    assert Composer([FaceShifterSwap(None), *lite_editors()], forced="lite").engine_for("face_swap") == "lite"
    assert Composer(lite_editors()).engine_for("face_swap") == "lite"
    assert FaceShifterSwap.requires == (("ghost.g_unet_2blocks", "ghost.g_unet_2blocks_safetensors"),
                                        ("ghost.arcface_backbone", "ghost.arcface_backbone_safetensors"))


def test_the_source_face_is_chosen_by_number(gan):
    s = Session.from_photo(str(ASTRONAUT), composer=Composer(lite_editors()))
    first = s.run("face_swap", source=str(TWO_FACES), source_face=0)
    second = s.run("face_swap", source=str(TWO_FACES), source_face=1)
    assert np.abs(first.crop.astype(int) - second.crop).mean() > 1, "another source face, another result"


# --------------------------------------------------------------------------- command line


def _cli(argv: list[str], capsys, composer: Composer | None = None) -> tuple[int, str, str]:
    from faceedit.cli import main

    code = main(argv, composer=composer)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_swaps_and_prints_engine_and_similarity(tmp_path, capsys, gan, one_thread):
    out = tmp_path / "swapped.png"
    code, text, _ = _cli(["faceswap", str(ASTRONAUT), str(HOPPER), "-o", str(out), "--strength", "0.8"], capsys, gan)
    assert code == 0 and "gan engine" in text and "identity similarity to the source: " in text
    assert float(text.split("identity similarity to the source: ")[1].split()[0]) <= 1
    with Image.open(out) as im, Image.open(ASTRONAUT) as orig:
        assert im.size == orig.size
    code, text, _ = _cli(["faceswap", str(ASTRONAUT), str(TWO_FACES), "--source-face", "1", "-o", str(out)],
                         capsys, Composer(lite_editors()))
    assert code == 0 and "lite engine" in text and "not measured" in text


def test_cli_batch_over_a_folder(tmp_path, capsys, one_thread):
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in (ASTRONAUT, TWO_FACES):
        (photos / p.name).write_bytes(p.read_bytes())
    code, text, _ = _cli(["faceswap", str(photos), str(HOPPER), "-o", str(tmp_path / "out"), "--faces", "all"],
                         capsys, Composer(lite_editors()))
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert code == 0 and written == ["astronaut_faceswap.png", "two_faces_face0_faceswap.png",
                                     "two_faces_face1_faceswap.png"], text


@pytest.mark.parametrize("case, message", [
    ("target_no_face", "No face was found in the target photo"),
    ("source_no_face", "No face was found in the source photo"),
    ("same", "same face of the same photo"),
    ("small", "only 4[0-9] px wide"),
    ("profile", "turned 2° to the side; the lite face swap handles up to 1°"),
])
def test_cli_bad_inputs_get_their_own_message(case, message, tmp_path, capsys, bad_photos):
    lite = Composer([LiteFaceSwap(max_yaw=1.0), *lite_editors()])  # limit lowered: the photos are frontal
    target, source = {
        "target_no_face": (bad_photos["no_face"], str(HOPPER)),
        "source_no_face": (str(ASTRONAUT), bad_photos["no_face"]),
        "same": (str(HOPPER), str(HOPPER)),
        "small": (str(HOPPER), bad_photos["small"]),
        "profile": (str(HOPPER), str(TWO_FACES)),  # its largest face is turned 2°
    }[case]
    code, _, err = _cli(["faceswap", target, source, "-o", str(tmp_path / "x.png")], capsys, lite)
    assert code == 2 and err.startswith("error: ")
    import re

    assert re.search(message, err), err
    assert not (tmp_path / "x.png").exists()


# --------------------------------------------------------------------------- endpoint and tab


def test_endpoint_swaps_reblends_and_undoes(app_url):
    from gradio_client import handle_file

    c = _client(app_url)
    c.predict(handle_file(str(ASTRONAUT)), api_name="/parse")
    out = c.predict(handle_file(str(HOPPER)), 0, 1.0, api_name="/face_swap")
    compare, download, badge, details = out[0], out[1], out[2], out[5]
    full = _rgb(compare[1])
    assert full.shape == _rgb(str(ASTRONAUT)).shape and np.array_equal(_rgb(download), full)
    assert details["engine"] == "lite" and details["identity_similarity"] is None and "lite engine" in badge
    assert np.any(full != _rgb(str(ASTRONAUT)))
    half = _rgb(c.predict(handle_file(str(HOPPER)), 0, 0.5, api_name="/face_swap")[0][1])
    orig = _rgb(str(ASTRONAUT)).astype(int)
    assert 0 < np.abs(half - orig).sum() < np.abs(full - orig).sum(), "strength 0.5 re-blends the same swap"
    assert np.array_equal(_rgb(c.predict(api_name="/undo")[0][1]), full)


@pytest.mark.parametrize("case, message", [
    ("source_no_face", "No face was found in the source photo"),
    ("same", "same face of the same photo"),
    ("small", "only 4[0-9] px wide"),
    ("index", "source photo has 1 face"),
    ("strength", "greater than maximum value 1"),  # the slider's own range check
])
def test_endpoint_bad_inputs_get_their_own_message(case, message, app_url, bad_photos):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    c = _client(app_url)
    c.predict(handle_file(str(ASTRONAUT)), api_name="/parse")
    source, face, strength = {
        "source_no_face": (bad_photos["no_face"], 0, 1.0),
        "same": (str(ASTRONAUT), 0, 1.0),
        "small": (bad_photos["small"], 0, 1.0),
        "index": (str(HOPPER), 3, 1.0),
        "strength": (str(HOPPER), 0, 1.5),
    }[case]
    with pytest.raises((AppError, ValueError), match=message):
        c.predict(handle_file(source), face, strength, api_name="/face_swap")


def test_endpoint_without_a_portrait_or_source_says_what_to_do(app_url):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    c = _client(app_url)
    with pytest.raises(AppError, match="Upload a portrait"):
        c.predict(handle_file(str(HOPPER)), 0, 1.0, api_name="/face_swap")
    c.predict(handle_file(str(ASTRONAUT)), api_name="/parse")
    with pytest.raises(AppError, match="Upload a source portrait"):
        c.predict(None, 0, 1.0, api_name="/face_swap")


def test_tab_handlers_with_the_gan_editor_and_a_turned_source(gan, bad_photos, one_thread):
    """The tab's handlers on a page whose composer has FaceShifter: pickers, swap, details, profile refusal."""
    import gradio as gr

    from faceedit.ui import faceswap_kit, make_handlers
    from faceedit.ui_faceswap import make_faceswap_handlers

    page = make_handlers(None, gan)
    h = make_faceswap_handlers(None, gan, faceswap_kit())
    opened = page["parse"](str(TWO_FACES), 1, None)
    state, info = opened[0], opened[6]
    assert h["target_faces"](info)["choices"] == [("Face 1 (largest)", 0), ("Face 2", 1)]
    assert h["target_faces"](info)["value"] == 1 and h["target_faces"](info)["visible"]
    assert h["source_faces"](str(HOPPER)) == gr.update(choices=[("Face 1 (largest)", 0)], value=0, visible=False)
    out = h["face_swap"](state, str(HOPPER), 0, 1.0)
    assert out[6]["engine"] == "gan" and "HEAR-Net" in out[6]["message"] and "GAN engine" in out[3]
    assert _rgb(out[2]).shape == state.session.original.shape
    strict = Composer([LiteFaceSwap(max_yaw=1.0), *lite_editors()])  # limit lowered: the photos are frontal
    hopper = make_handlers(None, strict)["parse"](str(HOPPER), 0, None)[0]
    with pytest.raises(gr.Error, match="turned 2° to the side"):
        make_faceswap_handlers(None, strict, faceswap_kit())["face_swap"](hopper, str(TWO_FACES), 0, 1.0)
    with pytest.raises(gr.Error, match="No face was found in the source photo"):
        h["source_faces"](bad_photos["no_face"])


def test_the_page_has_the_tab_and_the_named_endpoint(app_url):
    c = _client(app_url)
    api = c.view_api(print_info=False, return_format="dict")
    assert "/face_swap" in api["named_endpoints"]
    params = [p["parameter_name"] for p in api["named_endpoints"]["/face_swap"]["parameters"]]
    assert params == ["source", "source_face", "strength"]


def test_from_registry_builds_faceshifter_from_the_rows_present(monkeypatch, nets):
    """With a generator row (here the safetensors re-pack) and the ArcFace row installed, the process's composer
    gets FaceShifter for face_swap, and the lite editor the backbone for its similarity; without them, lite only."""
    import faceedit.editors.base as base
    import faceedit.editors.face_swap as fs
    from faceedit.editors.gan_runtime import GanRuntime

    installed = {"ghost.g_unet_2blocks_safetensors", "ghost.arcface_backbone"}
    fake_present = lambda pattern: [pattern] if pattern in installed else []  # noqa: E731
    monkeypatch.setattr(base, "present", fake_present)
    monkeypatch.setattr(fs, "present", fake_present)
    loaded: list[str] = []
    monkeypatch.setattr(GanRuntime, "load", lambda self, name: loaded.append(name) or
                        (nets.generator if "g_unet" in name else nets.arcface))
    composer = Composer.from_registry(forced="auto", classes=[FaceShifterSwap, LiteFaceSwap])
    assert [type(e) for e in composer.editors] == [FaceShifterSwap, LiteFaceSwap]
    assert composer.engine_for("face_swap") == "gan"
    assert loaded == ["ghost.g_unet_2blocks_safetensors", "ghost.arcface_backbone", "ghost.arcface_backbone"]
    assert composer.editors[1].nets.arcface is nets.arcface

    installed.clear()
    bare = Composer.from_registry(forced="auto", classes=[FaceShifterSwap, LiteFaceSwap])
    assert [type(e) for e in bare.editors] == [LiteFaceSwap] and bare.engine_for("face_swap") == "lite"
    assert bare.editors[0].nets is None
