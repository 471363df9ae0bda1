"""New faces for a label map (operation ``synthesise``) and CelebAMask-HQ training pairs, on synthetic networks.

The networks: Gu et al.'s mask-guided model in the official state-dict layout at 1/32 width (seeded weights,
as the editor contract test uses), a 16 px StyleGAN2 and a toy seg-to-face encoder.  The map: a synthetic
frontal face (skin, brows, eyes, nose, lips, hair) at 512 px.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers import CountingGenerator, gan_composer, served
from mask_guided_fixtures import seeded_state_dict, synthetic_face_image, synthetic_face_labels
from PIL import Image
from test_browser import page  # noqa: F401 - the browser fixture (on this module's app_url below)
from test_gan_engine import STYLE_DIM, SmallEncoder
from test_gan_integration import _entries

from faceedit import synth
from faceedit.cli import main
from faceedit.editors.synthesise import FACE_CLASSES, GuRandomEmbedding
from faceedit.errors import FaceEditError, InvalidArgumentError, WeightsMissingError
from faceedit.helen import from_helen
from faceedit.labels import INDEX, PALETTE, TO_CELEBAMASK

MODELS = ("gu", "psp")


def build_composer():
    """The synthetic GAN composer (deterministic: the same networks in every process)."""
    from faceedit.mask_guided_official import MaskGuidedEditor
    from faceedit.models.mask_guided import load_network

    torch.manual_seed(0)
    gen = CountingGenerator(16, style_dim=STYLE_DIM, n_mlp=2, channel_multiplier=1).eval().requires_grad_(False)
    seg2face = SmallEncoder(19, gen.n_latent).eval().requires_grad_(False)
    model = MaskGuidedEditor(with_image_decoders=False, with_parser=False, div=32)
    for i, label in enumerate(model.labels()):
        net = model.network(label)
        load_network(net, seeded_state_dict(_entries(net), 7000 + i), label)
    return gan_composer(generator=gen, seg2face=seg2face, mask_guided=model.eval().requires_grad_(False))


def face_map(shift: int = 0) -> np.ndarray:
    """A 512 px canonical 19-class map of a frontal face (``shift`` moves the mouth)."""
    helen = synthetic_face_labels(mouth_y=178 + shift)
    return cv2.resize(from_helen(helen), (512, 512), interpolation=cv2.INTER_NEAREST)


@pytest.fixture(scope="module")
def composer():
    return build_composer()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A 512 px textured "photo" crop whose face follows :func:`face_map`."""
    img = synthetic_face_image(synthetic_face_labels(), seed=3)
    return cv2.resize(img, (512, 512), interpolation=cv2.INTER_LINEAR)


# --------------------------------------------------------------------------- variations


@pytest.mark.parametrize("model", MODELS)
def test_variations_differ_inside_the_face_and_repeat_for_a_seed(composer, model, one_thread) -> None:
    labels = face_map()
    face = np.isin(labels, FACE_CLASSES)
    first = synth.synthesise(composer, labels, n=3, seed=5, model=model)
    assert [v.seed for v in first] == [5, 6, 7]
    for a in range(3):
        assert first[a].image.shape == (512, 512, 3) and first[a].image.dtype == np.uint8
        for b in range(a + 1, 3):
            inside = np.abs(first[a].image.astype(int) - first[b].image)[face].max(-1)
            assert (inside > 0).mean() > 0.5, f"faces {a} and {b} barely differ inside the face"
    again = synth.synthesise(composer, labels, n=3, seed=5, model=model)
    assert all(np.array_equal(x.image, y.image) for x, y in zip(first, again)), "a seed is one face"
    alone = synth.synthesise(composer, labels, n=1, seed=6, model=model)[0]
    assert np.array_equal(alone.image, first[1].image), "face k of seed s is seed s + k on its own"


def test_same_seed_same_face_in_another_process(composer, tmp_path) -> None:
    """The noise is drawn on the CPU from the seed: a fresh process (another thread count, so other float32
    summation orders in the convolutions) draws the same faces, up to a grey level of rounding."""
    here = [synth.synthesise(composer, face_map(), 1, 11, m)[0].image for m in MODELS]
    code = ("import sys, numpy as np; sys.path.insert(0, 'tests'); import test_synthesise as t; "
            "from faceedit import synth; c = t.build_composer(); "
            f"np.save({str(tmp_path / 'faces.npy')!r}, np.stack([synth.synthesise(c, t.face_map(), 1, 11, m)[0].image "
            "for m in t.MODELS]))")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300,
                         env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)})
    assert out.returncode == 0, out.stderr[-2000:]
    there = np.load(tmp_path / "faces.npy")
    other = synth.synthesise(composer, face_map(), 1, 12, MODELS[0])[0].image  # the next seed: another face
    for model, a, b in zip(MODELS, here, there):
        diff = np.abs(a.astype(int) - b)
        assert diff.max() <= 2 and diff.mean() < 0.05, f"{model}: seed 11 drew another face in a fresh process"
    assert np.abs(here[0].astype(int) - other).max() > 20, "the tolerance would hide a different face"


def test_gu_draw_is_the_official_random_embed(composer) -> None:
    """The editor's z are what ``MaskGuidedEditor.encode(random_embed=True)`` (the official mode) draws for a seed."""
    ed = next(e for e in composer.editors if isinstance(e, GuRandomEmbedding))
    helen = synthetic_face_labels()
    image = synthetic_face_image(helen, seed=1)
    official = ed.model.encode(image, helen, random_embed=True, generator=torch.Generator().manual_seed(42))
    ours = ed.model.decode_features(ed.embeddings(42))
    assert all(torch.equal(official[c], ours[c]) for c in official)
    assert not torch.equal(ours["skin"], ed.model.decode_features(ed.embeddings(43))["skin"])


@pytest.mark.parametrize("model", MODELS)
def test_background_follows_the_chosen_mode(composer, photo, model, one_thread) -> None:
    labels = face_map()
    far = ~cv2.dilate((labels != 0).astype(np.uint8), np.ones((19, 19), np.uint8)).astype(bool)
    kept = synth.synthesise(composer, labels, 2, 0, model, "photo", photo)
    for v in kept:
        assert np.array_equal(v.image[far], photo[far]), "photo mode keeps the photo's background"
        assert not np.array_equal(v.image[labels == INDEX["skin"]], photo[labels == INDEX["skin"]])
    drawn = synth.synthesise(composer, labels, 2, 0, model, "generated", photo)
    for v in drawn:
        assert (np.abs(v.image[far].astype(int) - photo[far]).max(-1) > 8).mean() > 0.5, \
            "generated mode draws its own background"
    with pytest.raises(InvalidArgumentError, match="needs a photo"):
        synth.synthesise(composer, labels, 1, 0, model, "photo")
    with pytest.raises(InvalidArgumentError, match="photo, generated"):
        synth.synthesise(composer, labels, 1, 0, model, "sky")


def test_a_variation_becomes_the_current_result_with_undo(composer, astronaut, one_thread) -> None:
    from faceedit.session import Session

    s = Session.from_photo(astronaut, composer=composer)
    labels = s.labels
    before = s.current.image
    drawn = synth.synthesise(composer, labels, 2, 9, "psp", "photo", s.crop)
    r = synth.take(s, labels, 10, "psp", "photo")
    assert np.array_equal(r.crop, drawn[1].image), "taking face k gives exactly the gallery's face"
    assert r.engine == "gan" and "seed 10" in r.message and r.image.shape == astronaut.shape
    assert np.array_equal(r.image[:20], astronaut[:20]), "photo mode pastes only the face"
    assert np.array_equal(s.undo().image, before)
    with pytest.raises(InvalidArgumentError, match="must match the aligned crop"):
        synth.take(s, labels[:256, :256], 0, "gu")


def test_a_drawn_face_without_a_photo_opens_a_session(composer) -> None:
    v = synth.synthesise(composer, face_map(), 1, 3, "gu")[0]
    s = synth.session_from_image(v.image, v.labels, composer)
    assert np.array_equal(s.current.image, v.image) and np.array_equal(s.labels, v.labels)
    r = synth.take(s, face_map(shift=8), 4, "gu", "photo")
    assert r.image.shape == v.image.shape and not np.array_equal(r.image, v.image)


def test_without_the_weights_the_message_names_the_preset() -> None:
    from faceedit.editors.composer import Composer
    from faceedit.editors.lite import lite_editors

    with pytest.raises(WeightsMissingError, match="--preset mask"):
        synth.synthesise(Composer(lite_editors()), face_map(), 1, 0)


def test_counts_seeds_and_models_are_checked(composer) -> None:
    with pytest.raises(InvalidArgumentError, match="1..64"):
        synth.synthesise(composer, face_map(), 0, 0)
    with pytest.raises(FaceEditError, match="seed"):
        synth.synthesise(composer, face_map(), 1, -1)
    with pytest.raises(InvalidArgumentError, match="gu, psp"):
        synth.synthesise(composer, face_map(), 1, 0, "stylegan")


# --------------------------------------------------------------------------- map files


def _save(tmp_path: Path, name: str, arr: np.ndarray) -> Path:
    p = tmp_path / name
    Image.fromarray(arr).save(p)
    return p


def test_map_files_colour_palette_and_celebamask_index(tmp_path) -> None:
    labels = face_map()
    colour = synth.write_colour_map(labels, tmp_path / "colour.png")
    assert np.array_equal(synth.read_label_map(colour), labels)
    index = _save(tmp_path, "index.png", TO_CELEBAMASK[labels])  # as CelebAMask-HQ's g_mask.py writes
    assert np.array_equal(synth.read_label_map(index), labels)
    from faceedit.commands._io import save_labels

    assert np.array_equal(synth.read_label_map(save_labels(labels, tmp_path / "parsed.png")), labels)
    small = cv2.resize(labels, (256, 256), interpolation=cv2.INTER_NEAREST)
    assert synth.read_label_map(synth.write_colour_map(small, tmp_path / "s.png")).shape == (512, 512)


def test_bad_maps_get_clear_messages(composer, tmp_path) -> None:
    labels = face_map()
    wide = synth.write_colour_map(np.zeros((300, 400), np.uint8), tmp_path / "wide.png")
    with pytest.raises(InvalidArgumentError, match="400x300; a label map must be square"):
        synth.read_label_map(wide)
    with pytest.raises(InvalidArgumentError, match="must be square, 256"):
        synth.read_label_map(synth.write_colour_map(np.zeros((64, 64), np.uint8), tmp_path / "tiny.png"))
    odd = PALETTE[labels].copy()
    odd[:10, :10] = (1, 2, 3)
    with pytest.raises(InvalidArgumentError, match=r"100 pixels in colours .*\(1, 2, 3\)"):
        synth.read_label_map(_save(tmp_path, "odd.png", odd))
    with pytest.raises(InvalidArgumentError, match="values up to 200"):
        synth.read_label_map(_save(tmp_path, "grey.png", np.full((512, 512), 200, np.uint8)))
    with pytest.raises(InvalidArgumentError, match="I;16-mode"):
        synth.read_label_map(_save(tmp_path, "deep.png", np.zeros((512, 512), np.uint16)))
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(FaceEditError, match="not a readable image"):
        synth.read_label_map(tmp_path / "text.png")
    blank = synth.read_label_map(synth.write_colour_map(np.zeros((512, 512), np.uint8), tmp_path / "blank.png"))
    with pytest.raises(InvalidArgumentError, match="no face"):
        synth.synthesise(composer, blank, 1, 0)
    with pytest.raises(InvalidArgumentError, match="must be square"):
        synth.synthesise(composer, labels[:, :300], 1, 0)


def test_mean_map_is_the_per_pixel_majority(tmp_path) -> None:
    a, b, c = face_map(0), face_map(12), face_map(12)
    mean = synth.mean_map([a, b, c])
    assert np.array_equal(mean, b), "two of three maps agree everywhere"
    for i, m in enumerate((a, b, c)):
        synth.write_colour_map(m, tmp_path / f"{i}.png")
    assert np.array_equal(synth.mean_map(tmp_path), mean)
    tie = synth.mean_map([np.full((512, 512), 3, np.uint8), np.full((512, 512), 1, np.uint8)])
    assert (tie == 1).all(), "a tie takes the lower class index"
    with pytest.raises(InvalidArgumentError, match="not a folder"):
        synth.mean_map(tmp_path / "nowhere")


def test_templates_start_from_a_blank_canvas_the_examples_and_their_mean() -> None:
    found = synth.templates()
    assert not found["blank canvas"].any()
    examples = [m for name, m in found.items() if name.startswith("example: ")]
    assert len(examples) == 2 and all((m == INDEX["skin"]).mean() > 0.05 for m in examples)
    assert found["mean of the examples"].shape == (512, 512)
    from faceedit.ui_synth import TEMPLATE_NAMES

    assert set(TEMPLATE_NAMES) == set(found), "the page offers every template"


# --------------------------------------------------------------------------- jitter and augment


def _centre_x(labels: np.ndarray, name: str) -> float:
    return float(np.nonzero(labels == INDEX[name])[1].mean())


def test_a_flip_keeps_the_class_order() -> None:
    """The person's left eye is on the image right of a frontal face, before and after a mirror."""
    labels = face_map()
    flipped = synth.flip(labels)
    for left, right in (("l_eye", "r_eye"), ("l_brow", "r_brow")):
        assert _centre_x(labels, left) > _centre_x(labels, right)
        assert _centre_x(flipped, left) > _centre_x(flipped, right)
        assert (flipped == INDEX[left]).sum() == (labels == INDEX[right]).sum()
    assert np.array_equal(synth.flip(flipped), labels)


def test_affine_jitter_is_small_and_seeded() -> None:
    labels = face_map()
    a, how = synth.jitter(labels, 4, do_affine=True)
    b, _ = synth.jitter(labels, 4, do_affine=True)
    assert np.array_equal(a, b) and how.startswith("rot") and not np.array_equal(a, labels)
    assert 0.85 < (a == INDEX["skin"]).sum() / (labels == INDEX["skin"]).sum() < 1.15


def test_augment_writes_pairs_in_the_celebamask_layout(composer, tmp_path, one_thread) -> None:
    maps = tmp_path / "maps"
    maps.mkdir()
    synth.write_colour_map(face_map(), maps / "a.png")
    Image.fromarray(TO_CELEBAMASK[face_map(10)]).save(maps / "b.png")
    out = tmp_path / "out"
    assert main(["augment", "--labels", str(maps), "--per-map", "3", "--seed", "1", "--model", "psp", "--flip",
                 "--combined", "-o", str(out)], composer=composer) == 0
    images = sorted((out / "CelebA-HQ-img").iterdir(), key=lambda p: int(p.stem))
    assert [p.name for p in images] == [f"{i}.jpg" for i in range(6)]
    with Image.open(images[0]) as im:
        assert im.size == (1024, 1024) and im.mode == "RGB"
    skin = out / "CelebAMask-HQ-mask-anno" / "0" / "00000_skin.png"
    with Image.open(skin) as im:
        assert im.size == (512, 512) and set(np.unique(np.asarray(im))) == {0, 255}
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    assert len(rows) == 6 and {r["source_map"] for r in rows} == {str(maps / "a.png"), str(maps / "b.png")}
    assert any(r["jitter"] == "flip" for r in rows) and any(r["jitter"] == "" for r in rows)
    for r in rows:
        ident, seed = int(r["id"]), int(r["seed"])
        source = synth.read_label_map(r["source_map"])
        expected, _ = synth.jitter(source, seed, do_flip=True)
        written = synth.read_pair_labels(out, ident)
        assert np.array_equal(written, expected), f"pair {ident}: the masks are the (jittered) map"
        assert _centre_x(written, "l_eye") > _centre_x(written, "r_eye"), "class order kept after a flip"
        combined = np.asarray(Image.open(out / "CelebAMask-HQ-mask" / f"{ident}.png"))
        assert np.array_equal(combined, TO_CELEBAMASK[expected])
    # a second run continues the ids and the manifest
    assert main(["augment", "--labels", str(maps / "a.png"), "--per-map", "1", "-o", str(out)], composer=composer) == 0
    assert (out / "CelebA-HQ-img" / "6.jpg").exists() and len(list(csv.DictReader((out / "manifest.csv").open()))) == 7


def test_augment_stops_on_a_bad_map_before_drawing(composer, tmp_path, capsys) -> None:
    maps = tmp_path / "maps"
    maps.mkdir()
    synth.write_colour_map(face_map(), maps / "a.png")
    synth.write_colour_map(np.zeros((512, 512), np.uint8), maps / "empty.png")
    assert main(["augment", "--labels", str(maps), "--per-map", "1", "-o", str(tmp_path / "o")],
                composer=composer) == 2
    assert "empty.png" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_synth_command_writes_n_faces(composer, tmp_path, capsys) -> None:
    m = synth.write_colour_map(face_map(), tmp_path / "map.png")
    out = tmp_path / "faces"
    assert main(["synth", "--labels", str(m), "--n", "3", "--seed", "2", "--model", "gu", "-o", str(out)],
                composer=composer) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["map_labels.png", "map_seed2.png", "map_seed3.png", "map_seed4.png"]
    assert "Gu et al. random embedding" in capsys.readouterr().out
    odd = PALETTE[face_map()].copy()
    odd[0, 0] = (9, 9, 9)
    Image.fromarray(odd).save(tmp_path / "odd.png")
    assert main(["synth", "--labels", str(tmp_path / "odd.png"), "-o", str(out)], composer=composer) == 2
    assert "not class colours" in capsys.readouterr().err


# --------------------------------------------------------------------------- the page


@pytest.fixture(scope="module")
def synth_app(composer):
    with served(composer=composer) as url:
        yield url


def test_the_page_draws_faces_and_takes_one(synth_app) -> None:
    from gradio_client import Client

    c = Client(synth_app, verbose=False, download_files=True)
    canvas = c.predict("blank canvas", api_name="/synth_template")
    assert canvas["background"], "the template is on the canvas"
    with pytest.raises(Exception, match="no face"):
        c.predict(None, 2, 0, "gu", "photo", api_name="/synthesise")
    c.predict("mean of the examples", api_name="/synth_template")
    gallery = c.predict(None, 3, 7, "psp", "photo", api_name="/synthesise")
    assert [item["caption"] for item in gallery] == ["seed 7", "seed 8", "seed 9"]
    shown = [np.asarray(Image.open(item["image"]).convert("RGB")) for item in gallery]
    assert not np.array_equal(shown[0], shown[1])
    out = c.predict(1, api_name="/take_synthesised")
    after = np.asarray(Image.open(out[1]).convert("RGB"))
    assert after.shape == (512, 512, 3) and np.array_equal(after, shown[1]), "the picked face is the result"
    assert "pSp seg2face multi-modal" in out[2]


def test_the_page_without_weights_names_the_preset() -> None:
    from faceedit.editors.composer import Composer
    from faceedit.editors.lite import lite_editors
    from faceedit.ui import build_demo

    demo = build_demo(composer=Composer(lite_editors()))
    texts = [b.get("props", {}).get("value") for b in demo.config["components"]
             if b.get("props", {}).get("elem_id") == "fe-synth-note"]
    assert texts and "--preset mask" in texts[0] and "mask painting" in texts[0]
    go = [b for b in demo.config["components"] if b.get("props", {}).get("elem_id") == "fe-synth-go"]
    assert go[0]["props"]["interactive"] is False


def test_weights_taken_in_while_the_page_is_open_enable_the_buttons_that_waited(composer) -> None:
    """The Models tab's progress poll (and the import) update the synth and random-face buttons and notes."""
    from faceedit.editors.composer import Composer
    from faceedit.editors.lite import lite_editors
    from faceedit.ui import build_demo
    from faceedit.ui_models import gate_updates

    demo = build_demo(composer=Composer(lite_editors()))
    elem = {c["id"]: c.get("props", {}).get("elem_id") for c in demo.config["components"]}
    waiting = {"fe-synth-go", "fe-synth-note", "fe-draw", "fe-random-note"}
    for api in ("models_progress", "models_import"):
        dep = next(d for d in demo.config["dependencies"] if d.get("api_name") == api)
        assert waiting <= {elem[o] for o in dep["outputs"]}, api
    gated = [(None, "synthesise", "enable"), (None, "synthesise", "hide"), (None, "random", "enable")]
    offline = gate_updates(Composer(lite_editors()), gated)
    assert [offline[0]["interactive"], offline[1]["visible"], offline[2]["interactive"]] == [False, True, False]
    arrived = gate_updates(composer, gated)  # Gu's generator, pSp seg2face and a StyleGAN2 generator are in
    assert [arrived[0]["interactive"], arrived[1]["visible"], arrived[2]["interactive"]] == [True, False, True]


def test_full_width_official_layout_draws_distinct_repeatable_faces(data_dir, one_thread) -> None:
    """Gu et al.'s inference networks at full width, every file of the official layout loaded strictly."""
    from mask_guided_fixtures import seeded_weights

    from faceedit.editors.gan_runtime import GanRuntime
    from faceedit.mask_guided_official import MaskGuidedEditor
    from faceedit.models.mask_guided import INFERENCE_LABELS, load_network

    model = MaskGuidedEditor(with_image_decoders=False, with_parser=False)
    for label in INFERENCE_LABELS:
        load_network(model.network(label), seeded_weights(data_dir, label), label)
    ed = GuRandomEmbedding(model.eval().requires_grad_(False), GanRuntime(device="cpu"))
    labels = face_map()
    faces = ed.variations(labels, 21, 2, "generated")
    inside = np.abs(faces[0].astype(int) - faces[1]).max(-1)[np.isin(labels, FACE_CLASSES)]
    assert (inside > 0).mean() > 0.5
    assert np.array_equal(faces[1], ed.variations(labels, 22, 1, "generated")[0])


@pytest.fixture(scope="module")
def app_url(synth_app):
    """The browser fixture ``page`` (from test_browser) opens this module's app: the synthetic GAN networks."""
    return synth_app


@pytest.mark.browser
def test_in_the_browser_new_faces_for_the_photo_map_and_pick_one(page) -> None:  # noqa: F811 - imported fixture
    """Upload, open the section, draw faces for the photo's own map, click one: it becomes the result."""
    from test_browser import AFTER_SRC, ARTIFACTS, REPO

    page.locator("#fe-photo input[type=file]").set_input_files(str(REPO / "assets" / "astronaut.png"))
    page.wait_for_function("document.querySelector('#fe-badge').innerText.includes('parsed')")
    page.wait_for_function(f"({AFTER_SRC})() !== null")
    before = page.evaluate(AFTER_SRC)
    page.get_by_text("New faces for this map").first.click()
    page.locator("#fe-synth-go").click()
    page.wait_for_function("document.querySelectorAll('#fe-synth-gallery img').length >= 4 "
                           "|| document.querySelector('.toast-body')")
    assert not page.locator(".toast-body").all_inner_texts()
    page.screenshot(path=str(ARTIFACTS / "browser-synth-gallery.png"), full_page=True)
    page.locator("#fe-synth-gallery img").nth(1).click()
    page.wait_for_function(f"(old) => ({AFTER_SRC})() !== old || document.querySelector('.toast-body')", arg=before)
    assert not page.locator(".toast-body").all_inner_texts()
    assert "seed 1" in page.locator("#fe-badge").inner_text()
    page.screenshot(path=str(ARTIFACTS / "browser-synth-picked.png"), full_page=True)
