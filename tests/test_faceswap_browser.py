"""The Face swap tab in a real browser (headless chromium, the page of tests/test_browser.py): upload a portrait,
open the tab, upload a source, swap, see the face change in the close-up, then lower the blend strength."""

from __future__ import annotations

import numpy as np
import pytest
from test_browser import AFTER_SRC, BEFORE_SRC, REPO, _image, _shot, _wait_new_result, page  # noqa: F401

pytestmark = pytest.mark.browser


def test_face_swap_tab_swaps_the_face_and_reblends(page):  # noqa: F811 - the fixture imported above
    page.reload()
    page.wait_for_selector("#fe-photo")
    page.locator("#fe-photo input[type=file]").set_input_files(str(REPO / "assets" / "astronaut.png"))
    page.wait_for_function("document.querySelector('#fe-badge').innerText.includes('parsed')")
    page.wait_for_function(f"({AFTER_SRC})() !== null")

    page.get_by_role("tab", name="Face swap").click()
    page.locator("#fe-fs-source input[type=file]").set_input_files(str(REPO / "assets" / "grace_hopper.jpg"))
    page.wait_for_selector("#fe-fs-source img")
    before = page.evaluate(AFTER_SRC)
    page.locator("#fe-fs-run").click()
    swapped = _wait_new_result(page, before, "faceswap-1-swapped")
    assert "lite engine" in page.locator("#fe-badge").inner_text()
    assert "lite" in page.locator("#fe-fs-details").inner_text()
    original, full = _image(page, page.evaluate(BEFORE_SRC)), _image(page, swapped)
    change = np.abs(original.astype(int) - full).mean(-1)
    assert change.shape == (512, 512)
    assert change[250:330, 200:310].mean() > 5 > change[:60].mean(), "the face changes, the top of the crop not"

    strength = page.locator("#fe-fs-strength input[type=number]")
    strength.fill("0.5")
    strength.press("Enter")
    track = page.locator("#fe-fs-strength input[type=range]")  # the swap re-runs when the slider is let go
    box = track.bounding_box()
    assert box
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.45, y, steps=4)
    page.mouse.up()
    half = _image(page, _wait_new_result(page, swapped, "faceswap-2-half"))
    d_half = np.abs(original.astype(int) - half).mean()
    assert 0 < d_half < np.abs(original.astype(int) - full).mean(), "a lower strength shows less of the source"
