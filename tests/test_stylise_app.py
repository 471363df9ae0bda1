"""The "Art styles" tab through its named endpoints (gradio_client, the lite app served on 127.0.0.1, offline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import client as _client
from helpers import read_rgb as _rgb
from helpers import served
from PIL import Image
from test_stylise_session import composer, nets  # noqa: F401 - fixtures used below

REPO = Path(__file__).resolve().parents[1]
HOPPER = REPO / "assets" / "grace_hopper.jpg"


def test_lite_stylise_endpoint_with_sliders_by_name(app_url) -> None:
    from gradio_client import handle_file

    client = _client(app_url)
    client.predict(handle_file(str(HOPPER)), api_name="/parse")
    original = _rgb(str(HOPPER))
    out = client.predict("lite:cartoon", 1.0, {"smile": 1.0}, api_name="/stylise")
    after = _rgb(out[0][1])
    assert after.shape == original.shape, "the full photo comes back at its own size"
    assert np.abs(after.astype(int) - original).mean() > 1 and np.array_equal(after[:40, :40], original[:40, :40])
    assert "lite engine" in out[2] and "cartoon" in out[2]
    plain = _rgb(client.predict("cartoon", 1.0, {"smile": 0.0}, api_name="/stylise")[0][1])
    assert not np.array_equal(plain, after), "the smile slider moved the stylised face"
    with pytest.raises(Exception, match=r"'anime' is not available.*lite:pencil.*--preset art"):
        client.predict("anime", 1.0, {}, api_name="/stylise")
    gallery = client.predict(1.0, api_name="/stylise_gallery")
    assert [item["caption"] for item in gallery] == ["lite: painterly (edge-preserving) [lite]",
                                                     "lite: pencil sketch [lite]", "lite: cartoon (colour-quantised) [lite]"]


def test_training_button_on_cpu_answers_with_the_estimate(app_url) -> None:
    from gradio_client import handle_file

    status, _ = _client(app_url).predict(handle_file(str(HOPPER)), api_name="/train_style")
    assert "an estimate" in status and "hours" in status and "not started" in status


def test_artwork_without_gan_styles_says_what_is_needed(app_url) -> None:
    from gradio_client import handle_file

    with pytest.raises(Exception, match="--preset art"):
        _client(app_url).predict(handle_file(str(HOPPER)), "lite:cartoon", api_name="/artwork")


@pytest.fixture(scope="module")
def gan_app_url(composer):  # noqa: F811 - the synthetic GAN composer of test_stylise_session
    with served(composer=composer) as url:
        yield url


def test_gan_artwork_side_by_side_then_sliders_and_gif(gan_app_url, tmp_path) -> None:
    from gradio_client import handle_file
    from skimage import data

    from faceedit.editors.stylise import lite_stylise

    drawn = tmp_path / "cartoon.png"
    Image.fromarray(lite_stylise(np.ascontiguousarray(data.astronaut()), "cartoon").image).save(drawn)
    client = _client(gan_app_url)
    out = client.predict(handle_file(str(drawn)), "toon", api_name="/artwork")
    g_a, g_b = (_rgb(p) for p in out[-1])
    assert g_a.shape == g_b.shape == (512, 512, 3) and np.abs(g_a.astype(int) - g_b).mean() > 5, "G_A vs G_B"
    assert "GAN engine" in out[2] and out[5]["artwork"] is True
    styled = _rgb(out[0][1])
    moved = _rgb(client.predict("toon", 1.0, {"smile": 2.0}, api_name="/stylise")[0][1])
    assert moved.shape == styled.shape and not np.array_equal(moved, styled)
    gif = client.predict("smile", api_name="/stylise_animate")
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames > 2
    noise = tmp_path / "texture.png"
    Image.fromarray((np.random.default_rng(0).random((256, 256, 3)) * 255).astype(np.uint8)).save(noise)
    with pytest.raises(Exception, match="No face was found in this artwork"):
        client.predict(handle_file(str(noise)), "toon", api_name="/artwork")
