"""The web app through its public API: gradio_client against the page served on 127.0.0.1.

Each endpoint runs the real backend (lite engine, offline, CPU) on real photos from assets/ and
must hand back an image of the uploaded photo's own size; bad uploads come back as readable errors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import client as _client
from helpers import read_rgb as _rgb
from PIL import Image

from faceedit import labels as L
from faceedit.ui import ANIMATION_FRAMES, MAX_SLIDERS

REPO = Path(__file__).resolve().parents[1]
HOPPER = REPO / "assets" / "grace_hopper.jpg"  # 512 wide, 600 high: catches any width/height swap
ASTRONAUT = REPO / "assets" / "astronaut.png"
TWO_FACES = REPO / "assets" / "two_faces.jpg"


def _size(path: str) -> tuple[int, int]:
    with Image.open(path) as im:
        return im.size


def _after(compare) -> str:
    """Path of the "after" image of an ImageSlider output (a pair of image paths)."""
    assert isinstance(compare, (list, tuple)) and len(compare) == 2, compare
    return compare[1]


def _lip_paint(tmp_path: Path) -> str:
    """An RGBA paint layer over the 512 px aligned crop: a larger lower lip than any real one."""
    layer = np.zeros((512, 512, 4), np.uint8)
    yy, xx = np.mgrid[:512, :512]
    blob = ((yy - 380) / 18.0) ** 2 + ((xx - 256) / 60.0) ** 2 < 1
    layer[blob, :3] = L.PALETTE[L.INDEX["l_lip"]]
    layer[blob, 3] = 255
    path = tmp_path / "paint.png"
    Image.fromarray(layer, "RGBA").save(path)
    return str(path)


def test_every_endpoint_returns_an_image_of_the_original_size(app_url, tmp_path):
    from gradio_client import handle_file

    client = _client(app_url)
    width, height = _size(str(HOPPER))
    out = client.predict(handle_file(str(HOPPER)), api_name="/parse")
    compare, info = out[0], out[5]
    assert _size(_after(compare)) == (width, height)
    assert info["engine"] == "lite" and info["faces"] == 1
    names = info["attributes"]
    assert "smile" in names
    assert len(out) == 9 + MAX_SLIDERS
    assert [_size(p) for p in out[-1]] == [(512, 512)] * 2, "the face close-up shows the aligned crop"

    edited = client.predict(
        {"background": None, "layers": [handle_file(_lip_paint(tmp_path))], "composite": None},
        api_name="/edit_mask",
    )
    assert _size(_after(edited[0])) == (width, height)
    assert _size(edited[1]) == (width, height), "the download is the full-resolution photo"
    assert "lite engine" in edited[2]

    swapped = client.predict(handle_file(str(ASTRONAUT)), ["eyes", "mouth"], api_name="/swap")
    assert _size(_after(swapped[0])) == (width, height)

    values = [0.0] * MAX_SLIDERS
    values[names.index("smile")] = 2.0
    smiled = client.predict(*values, api_name="/attributes")
    smile_path = _after(smiled[0])
    assert _size(smile_path) == (width, height)
    smile = _rgb(smile_path)
    original = _rgb(str(HOPPER))
    assert np.abs(smile.astype(int) - original).max() > 0, "a smile of +2 must change the photo"

    undone = client.predict(api_name="/undo")
    assert _size(_after(undone[0])) == (width, height)
    redone = client.predict(api_name="/redo")
    assert np.array_equal(_rgb(_after(redone[0])), smile)

    reset = client.predict(api_name="/reset")
    assert _size(_after(reset[0])) == (width, height)

    gif = client.predict("smile", api_name="/animate")
    with Image.open(gif) as anim:
        assert anim.format == "GIF" and anim.n_frames == 2 * ANIMATION_FRAMES - 2
    shown = client.predict(api_name="/redo")  # the sweep left the user's history alone: nothing to redo
    assert np.array_equal(_rgb(_after(shown[0])), _rgb(_after(reset[0])))


def test_non_image_upload_gives_a_readable_error(app_url, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    fake = tmp_path / "notes.png"
    fake.write_text("this is a text file, not a photo\n")
    with pytest.raises(AppError) as caught:
        _client(app_url).predict(handle_file(str(fake)), api_name="/parse")
    message = str(caught.value)
    assert "image" in message.lower()
    assert "Traceback" not in message and "File \"" not in message


def test_photo_without_a_face_says_so(app_url, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError
    from skimage import data

    cup = tmp_path / "coffee.png"
    Image.fromarray(data.coffee()).save(cup)
    with pytest.raises(AppError, match="(?i)no face"):
        _client(app_url).predict(handle_file(str(cup)), api_name="/parse")


def test_oversized_upload_is_refused_with_the_limit(app_url, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    wide = tmp_path / "panorama.png"  # small file, but one side over the 10,000 px limit
    Image.fromarray(np.zeros((70, 10_001, 3), np.uint8)).save(wide)
    with pytest.raises(AppError, match="10,000 px"):
        _client(app_url).predict(handle_file(str(wide)), api_name="/parse")


def test_entanglement_on_the_lite_engine_is_refused_plainly(app_url, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    client = _client(app_url)
    client.predict(handle_file(str(ASTRONAUT)), api_name="/parse")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    with pytest.raises(AppError, match="(?i)image"):
        client.predict(handle_file(str(broken)), api_name="/parse")
    # The failed upload left the photo being edited in place: the next request still reaches it.
    with pytest.raises(AppError, match="lite engine"):
        client.predict("smile", ["age"], api_name="/entanglement")


def test_upload_over_the_file_size_limit_is_refused(app_url, tmp_path):
    """Photos over 25 MB are refused with a readable message (the app-wide gradio limit is the Models tab's
    larger checkpoint limit, so the page checks photos itself)."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    big = tmp_path / "huge.png"
    big.write_bytes(b"\0" * (25 * 1024 * 1024 + 1))
    with pytest.raises(AppError, match="photos may be at most 25MB"):
        _client(app_url).predict(handle_file(str(big)), api_name="/parse")


def test_edit_before_upload_says_what_to_do(app_url):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="Upload a portrait"):
        _client(app_url).predict(api_name="/undo")


def test_each_browser_session_edits_its_own_photo(app_url):
    from gradio_client import handle_file

    from faceedit.ui import UserState, free_state

    a, b = _client(app_url), _client(app_url)
    a.predict(handle_file(str(HOPPER)), api_name="/parse")
    b.predict(handle_file(str(ASTRONAUT)), api_name="/parse")
    assert _size(_after(a.predict(api_name="/undo")[0])) == _size(str(HOPPER))
    assert _size(_after(b.predict(api_name="/undo")[0])) == _size(str(ASTRONAUT))

    state = UserState(session=None, photo="")
    assert Path(state.save_png(np.zeros((4, 4, 3), np.uint8), "x")).exists()
    free_state(state)  # what gradio calls when a session ends
    assert not state.workdir.exists()


def test_two_faces_can_be_chosen(app_url):
    from gradio_client import handle_file

    client = _client(app_url)
    first = client.predict(handle_file(str(TWO_FACES)), api_name="/parse")
    assert first[5]["faces"] == 2
    second = client.predict(handle_file(str(TWO_FACES)), 1, api_name="/choose_face")
    assert second[5]["face_index"] == 1
    assert _size(_after(second[0])) == _size(str(TWO_FACES))
    crop_a = np.asarray(Image.open(first[3]["background"]))
    crop_b = np.asarray(Image.open(second[3]["background"]))
    assert crop_a.shape == crop_b.shape and np.abs(crop_a.astype(int) - crop_b).mean() > 10, \
        "choosing the other face must show the other face on the canvas"


def test_brush_palette_is_the_class_palette_and_paint_maps_back_exactly():
    from faceedit.errors import InvalidArgumentError
    from faceedit.ui import BRUSH_COLORS, painted_labels

    assert len(BRUSH_COLORS) == L.NUM_CLASSES == len(set(BRUSH_COLORS))
    old = np.full((64, 64), L.INDEX["skin"], np.uint8)
    layer = np.zeros((64, 64, 4), np.uint8)
    for k, colour in enumerate(BRUSH_COLORS):  # one 3-px stripe per class, as the browser sends it
        layer[3 * k: 3 * k + 3, :, :3] = [int(colour[i: i + 2], 16) for i in (1, 3, 5)]
        layer[3 * k: 3 * k + 3, :, 3] = 255
    layer[0, 0, :3] += np.array([6, 0, 0], np.uint8)  # an anti-aliased edge pixel, slightly off-colour
    layer[60:, :, 3] = 200  # painted but semi-opaque: still paint
    layer[60:, :, :3] = L.PALETTE[L.INDEX["hair"]]
    layer[63, 0, 3] = 40  # faint brush edge: keeps its old class
    labels = painted_labels({"layers": [layer]}, old)
    assert [labels[3 * k + 1, 5] for k in range(L.NUM_CLASSES)] == list(range(L.NUM_CLASSES))
    assert labels[0, 0] == 0
    assert (labels[57:60] == L.INDEX["skin"]).all(), "unpainted pixels keep their old class"
    assert labels[61, 3] == L.INDEX["hair"] and labels[63, 0] == L.INDEX["skin"]

    # A canvas sent at another resolution is brought to the crop's size without new colours.
    big = np.repeat(np.repeat(layer, 2, 0), 2, 1)
    assert np.array_equal(painted_labels({"layers": [big]}, old), labels)

    with pytest.raises(InvalidArgumentError, match="Paint on the label map"):
        painted_labels({"layers": []}, old)
    with pytest.raises(InvalidArgumentError, match="does not change any class"):
        same = np.zeros((64, 64, 4), np.uint8)
        same[..., :3] = L.PALETTE[L.INDEX["skin"]]
        same[..., 3] = 255
        painted_labels({"layers": [same]}, old)


def test_random_face_on_the_lite_engine_says_which_weights_to_fetch(app_url):
    from gradio_client.exceptions import AppError

    from faceedit.ui import random_faces_note

    assert "weights fetch stylegan2.ffhq" in random_faces_note()
    with pytest.raises(AppError, match="weights fetch stylegan2.ffhq"):
        _client(app_url).predict(42, 0.7, "none", 7, api_name="/random")


@pytest.fixture()
def tiny_gan():
    """A composer with a seeded 16 px StyleGAN2 behind the GAN editors, as if its weights were in the cache."""
    import torch
    from helpers import gan_composer

    from faceedit.directions import Direction, DirectionLibrary
    from faceedit.models.stylegan2 import Generator

    torch.manual_seed(0)
    generator = Generator(16, style_dim=64, n_mlp=2, channel_multiplier=1).eval().requires_grad_(False)
    rng = np.random.default_rng(0)
    directions = DirectionLibrary([Direction("smile", rng.standard_normal((1, 64)), scale=4.0),
                                   Direction("age", rng.standard_normal((1, 64)), scale=4.0)])
    return gan_composer(generator=generator, directions=directions)


def test_random_face_opens_a_session_of_the_generator_size(tiny_gan):
    from faceedit.ui import make_handlers

    draw = make_handlers(None, tiny_gan)["random"]
    out = draw(42, 0.7, "none", 7, None)
    state, compare, info = out[0], out[1], out[6]
    face = state.session.original.copy()
    assert face.shape == (16, 16, 3) and _size(compare[1]) == (16, 16)
    # the generator alone: GAN sliders and random faces; mask edits and swaps stay with the lite engine
    assert info["seed"] == 42 and info["engine"] == "gan+lite" and "smile" in info["attributes"]
    assert "seed 42" in out[3] and "gan+lite engines" in out[3], "the badge names the engines"
    assert np.array_equal(draw(42, 0.7, "none", 7, state)[0].session.original, face), "same seed, same face"
    assert not np.array_equal(draw(43, 0.7, "none", 7, None)[0].session.original, face)
    assert not np.array_equal(draw(42, 0.7, "coarse", 7, None)[0].session.original, face)


def test_entanglement_view_shows_both_strips(tiny_gan):
    from faceedit.ui import STRIP_FRAMES, make_handlers

    h = make_handlers(None, tiny_gan)
    state = h["random"](5, 0.7, "none", 0, None)[0]
    sheet = np.asarray(Image.open(h["entanglement"](state, "smile", ["age"])))
    assert sheet.shape[:2] == (2 * 160, STRIP_FRAMES * 160)
    assert np.abs(sheet[:160].astype(int) - sheet[160:]).mean() > 0.5, "conditioning must change the strip"
    assert not state.session.can_undo, "the strips leave the history alone"


def test_sliders_by_name_over_http(app_url):
    """``/set_attributes`` takes named slider values and gives the same photo as the positional endpoint."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    client = _client(app_url)
    info = client.predict(handle_file(str(ASTRONAUT)), api_name="/parse")[5]
    assert info["slots"][: len(info["attributes"])] == info["attributes"], "lite: one slot per slider, in order"
    by_name = client.predict({"smile": 1.5, "age": -1}, api_name="/set_attributes")
    assert _size(_after(by_name[0])) == _size(str(ASTRONAUT)) and "lite engine" in by_name[2]
    values = [0.0] * MAX_SLIDERS
    values[info["slots"].index("smile")], values[info["slots"].index("age")] = 1.5, -1.0
    positional = client.predict(*values, api_name="/attributes")
    assert np.array_equal(_rgb(_after(by_name[0])), _rgb(_after(positional[0])))
    assert not np.array_equal(_rgb(_after(by_name[0])), _rgb(str(ASTRONAUT)))
    with pytest.raises(AppError, match="'beard'.*smile, age, pose, pitch"):
        client.predict({"beard": 1}, api_name="/set_attributes")
    with pytest.raises(AppError, match=r"-3\.\.3"):
        client.predict({"smile": 9}, api_name="/set_attributes")
    with pytest.raises(AppError, match="takes a number"):
        client.predict({"smile": "wide"}, api_name="/set_attributes")


def test_sliders_are_shown_in_their_groups(tiny_gan):
    """Each slider sits in its group's accordion (a direction's manifest group; lite sliders by kind)."""
    from faceedit.directions import Direction
    from faceedit.ui import make_handlers, slider_layout

    library = tiny_gan.pick("attributes", "gan").directions
    library.add(Direction("bangs", np.ones((1, 64)), scale=4.0, group="hair"))
    layout = slider_layout(tiny_gan)
    groups = [g for g, _ in layout]
    assert groups[:3] == ["expression", "age and gender", "pose"] and "hair" in groups and groups[-1] == "other"
    assert sum(n for _, n in layout) == MAX_SLIDERS
    h = make_handlers(None, tiny_gan)
    out = h["random"](3, 0.7, "none", 0, None)
    slots = out[6]["slots"]
    hair_start = sum(n for g, n in layout[: groups.index("hair")])
    assert slots[hair_start] == "bangs" and out[6]["groups"]["bangs"] == "hair"
    assert {"smile", "age"} <= set(slots) and len(slots) == MAX_SLIDERS
    for k in range(50):  # more sliders than the page's default slots: the page grows its last group
        library.add(Direction(f"extra {k}", np.eye(64)[k % 64][None], scale=4.0))
    assert sum(n for _, n in slider_layout(tiny_gan)) == len(tiny_gan.attributes("gan").names()) + 4  # + lite


def test_painting_previews_in_the_close_up_without_entering_the_history(app_url, tmp_path):
    from gradio_client import handle_file

    client = _client(app_url)
    opened = client.predict(handle_file(str(ASTRONAUT)), api_name="/parse")
    original_crop = _rgb(opened[-1][1])
    paint = {"background": None, "layers": [handle_file(_lip_paint(tmp_path))], "composite": None}
    before, shown = client.predict(paint, api_name="/preview_mask")
    preview = _rgb(shown)
    assert np.array_equal(_rgb(before), original_crop), "the close-up compares with the photo's face"
    changed = np.abs(preview.astype(int) - original_crop).max(-1) > 10
    yy, xx = np.mgrid[:512, :512]
    blob = ((yy - 380) / 18.0) ** 2 + ((xx - 256) / 60.0) ** 2 < 1  # where _lip_paint paints
    assert changed[blob].sum() > 300 and changed[:300].sum() == 0, "the larger lower lip shows before Apply"
    edited = client.predict(paint, api_name="/edit_mask")
    assert np.array_equal(_rgb(edited[-1][1]), preview), "Apply gives what the preview showed (lite, no sliders)"
    undone = client.predict(api_name="/undo")  # one undo reaches the photo: the preview added no step
    assert np.array_equal(_rgb(undone[4][1]), original_crop)  # (photo, download, badge, canvas, close-up, …)
    assert not np.array_equal(_rgb(client.predict(paint, api_name="/preview_mask")[1]), original_crop)
    empty = {"background": None, "layers": [], "composite": None}  # the paint erased: the current face, no error
    assert np.array_equal(_rgb(client.predict(empty, api_name="/preview_mask")[1]), original_crop)
