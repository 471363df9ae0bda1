"""The "Art styles" tab in a real browser (headless Debian chromium, the lite app): pick a style, stylise, train."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from test_browser import AFTER_SRC, _image, _shot, page  # noqa: F401 - the page fixture

REPO = Path(__file__).resolve().parents[1]


def test_pick_a_lite_style_stylise_and_ask_for_training(page) -> None:  # noqa: F811 - the fixture
    page.set_input_files("#fe-photo input[type=file]", str(REPO / "assets" / "astronaut.png"))
    page.wait_for_function("() => document.querySelector('#fe-badge').innerText.includes('Face found')")
    page.get_by_role("tab", name="Art styles").click()
    page.locator("#fe-style input").click()
    page.get_by_role("option", name="lite: pencil sketch").click()
    page.locator("#fe-stylise").click()
    page.wait_for_function("() => document.querySelector('#fe-badge').innerText.includes('pencil sketch')")
    page.wait_for_function(f"() => {{ const s = ({AFTER_SRC})(); return !!s && s.includes('stylised-face'); }}")
    after = _image(page, page.evaluate(AFTER_SRC)).astype(int)
    centre = after[200:320, 200:320]
    assert np.abs(centre - centre.mean(-1, keepdims=True)).max() <= 2, "the face is a grey pencil sketch"
    assert "lite engine" in page.locator("#fe-badge").inner_text()
    page.get_by_text("Train a style from one image (DiFa)").click()
    page.set_input_files("#fe-train-target input[type=file]", str(REPO / "assets" / "grace_hopper.jpg"))
    page.locator("#fe-train").click()
    page.wait_for_function("() => document.querySelector('#fe-train-status').innerText.includes('an estimate')")
    assert "not started" in page.locator("#fe-train-status").inner_text()
    _shot(page, "art-styles")
