"""The page in a real browser: headless Debian chromium driven by Playwright.

A person's path through the app: open the page, upload a portrait, paint a stroke on the label
canvas with a class colour, see it previewed in the close-up, apply it and see the edited photo; then drag the smile slider, see preview
frames in the close-up while the button is held, and the full edit on release.  Screenshots of every step go to ``test-artifacts/`` (gitignored; CI keeps
them as artifacts).
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceedit import labels as L

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Seconds to wait for one backend call to show up in the page.
STEP_TIMEOUT_MS = 45_000

BEFORE_SRC = "() => document.querySelectorAll('#fe-closeup img')[0].getAttribute('src')"
AFTER_SRC = "() => { const imgs = document.querySelectorAll('#fe-closeup img'); " \
            "return imgs.length ? imgs[imgs.length - 1].getAttribute('src') : null; }"


@pytest.fixture(scope="module")
def page(app_url):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/test.sh does this as root)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            tab.set_default_timeout(STEP_TIMEOUT_MS)
            tab.goto(app_url)
            yield tab
        finally:
            browser.close()


def _image(page, src: str) -> np.ndarray:
    """The picture behind an <img> src, fetched over the page's own connection."""
    if not src.startswith("http"):
        src = page.evaluate("(s) => new URL(s, document.baseURI).href", src)
    with Image.open(io.BytesIO(page.request.get(src).body())) as im:
        return np.asarray(im.convert("RGB"))


def _shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"browser-{name}.png"), full_page=True)


def _wait_new_result(page, old_src: str | None, name: str) -> str:
    """Wait until the "after" image changes (or an error toast shows, which fails the test)."""
    page.wait_for_function(f"(old) => ({AFTER_SRC})() !== old || document.querySelector('.toast-body')",
                           arg=old_src)
    _shot(page, name)
    toasts = page.locator(".toast-body").all_inner_texts()
    assert not toasts, f"the page showed an error: {toasts}"
    return page.evaluate(AFTER_SRC)


def test_upload_paint_apply_and_slide(page):
    page.wait_for_selector("#fe-photo")

    page.locator("#fe-photo input[type=file]").set_input_files(str(REPO / "assets" / "astronaut.png"))
    page.wait_for_function("document.querySelector('#fe-badge').innerText.includes('parsed')")
    page.wait_for_function(f"({AFTER_SRC})() !== null")
    badge = page.locator("#fe-badge").inner_text()
    assert "lite engine" in badge and "cpu" in badge
    # Under the legend: what the parser found or could not see, per accessory and for hands.
    page.wait_for_function("(document.querySelector('#fe-parse-notes') || {}).innerText?.includes('hands')")
    notes = page.locator("#fe-parse-notes").inner_text()
    assert "glasses" in notes and "no hand found" in notes, notes
    _shot(page, "1-uploaded")

    # Pick the hair colour from the fixed palette and paint a stroke across the forehead (skin).
    canvas = page.locator("#fe-canvas")
    canvas.locator("button[aria-label='Color']").click()
    hair = "rgb({}, {}, {})".format(*map(int, L.PALETTE[L.INDEX["hair"]]))
    canvas.locator(f"button[style*='background-color: {hair}']").click()
    box = canvas.locator("canvas").first.bounding_box()
    assert box and box["width"] > 200 and box["height"] > 200
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    side = min(box["width"], box["height"])  # the 512 px crop is shown as a square in the middle
    forehead_y = cy - side * 0.11  # between the fringe and the brows
    page.mouse.move(cx - side * 0.15, forehead_y)
    page.mouse.down()
    for step in range(1, 5):  # few events: every one repaints a software-rendered WebGL canvas
        page.mouse.move(cx - side * 0.15 + step * side * 0.075, forehead_y + (step % 2) * 4)
    page.mouse.up()
    canvas.screenshot(path=str(ARTIFACTS / "browser-2-painted.png"))
    # Before Apply, the close-up already previews the stroke (not a history step; Apply replaces it).
    face = _image(page, page.evaluate(BEFORE_SRC)).astype(int)
    seen, deadline = None, time.monotonic() + STEP_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:  # the newest preview (earlier ones may show part of the stroke)
        page.wait_for_function(f"(old) => (({AFTER_SRC})() || '').includes('preview-') && ({AFTER_SRC})() !== old",
                               arg=seen)
        seen = page.evaluate(AFTER_SRC)
        if np.abs(_image(page, seen) - face).mean(-1)[180:205, 190:320].mean() > 2.0:
            break
    else:
        pytest.fail("no preview of the stroke reached the close-up before Apply")
    _shot(page, "2-stroke-preview")

    before = page.evaluate(AFTER_SRC)
    page.locator("#fe-apply").click()
    painted = _wait_new_result(page, before, "3-applied")
    # The stroke reached the backend as hair: the face changed along the painted forehead band
    # (crop rows ~180-205 of 512) and not at the bottom of the crop, far from it.
    change = np.abs(_image(page, page.evaluate(BEFORE_SRC)).astype(int) - _image(page, painted)).mean(axis=-1)
    assert change.shape == (512, 512)
    assert change[180:205, 190:320].mean() > 2.0 > change[470:].mean(), \
        (change[180:205, 190:320].mean(), change[470:].mean())

    # Attributes tab: drag the smile slider to the right and let go.
    page.get_by_role("tab", name="Attributes").click()
    smile = page.locator("[id^='fe-slider-']").filter(has_text="smile")
    assert smile.count() == 1
    track = smile.locator("input[type=range]")
    tbox = track.bounding_box()
    assert tbox
    y = tbox["y"] + tbox["height"] / 2
    page.mouse.move(tbox["x"] + tbox["width"] / 2, y)
    page.mouse.down()
    # While the button is held the close-up follows: a preview frame after each move, before any release.
    frames, last = [], painted
    for k in range(1, 4):
        page.mouse.move(tbox["x"] + tbox["width"] * (0.5 + 0.12 * k), y, steps=2)
        last = _wait_new_result(page, last, f"4-preview-{k}")
        frames.append(last)
    assert len(set(frames)) == 3 and all("preview-" in f for f in frames), frames
    page.mouse.up()
    value = float(smile.locator("input[type=number]").input_value())
    assert value > 1.0
    smiled = _wait_new_result(page, last, "4-smile")
    assert smiled != painted and "preview-" not in smiled, "on release the full edit replaces the preview"

    # The whole photo, at full resolution, is one tab away.
    page.get_by_role("tab", name="Whole photo").click()
    whole = page.locator("#fe-result img").last
    whole.wait_for(state="visible")
    page.wait_for_function("() => { const i = [...document.querySelectorAll('#fe-result img')].pop();"
                           " return i && i.naturalWidth === 512 && i.naturalHeight === 512; }")
    _shot(page, "5-whole-photo")



def test_models_tab_shows_the_presets_table(page):
    """The Models tab: its presets table with sizes and licences, and the download controls."""
    page.get_by_role("tab", name="Models").click()
    table = page.locator("#fe-models-presets")
    table.wait_for(state="visible")
    text = table.inner_text()
    assert "sliders" in text and "random faces" in text and "NON-COMMERCIAL" in text, text[:500]
    assert page.locator("#fe-models-download").is_visible() and page.locator("#fe-models-cancel").is_visible()
    assert "Engine now:" in page.locator("#fe-models-engines").inner_text()
    page.screenshot(path=str(ARTIFACTS / "models-tab.png"), full_page=True)
