"""The page's Batch tab, the slider preview and the occluder in the label overlay, through gradio_client (lite)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from helpers import client as _client
from helpers import read_rgb as _rgb
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
HOPPER = REPO / "assets" / "grace_hopper.jpg"
ASTRONAUT = REPO / "assets" / "astronaut.png"


def test_batch_of_files_gives_a_zip_and_names_the_broken_one(app_url, tmp_path) -> None:
    from gradio_client import handle_file

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"this is not a JPEG")
    photos = tmp_path / "photos.zip"  # a zip upload is unpacked: its photos join the batch
    with zipfile.ZipFile(photos, "w") as zf:
        zf.write(HOPPER, "hopper.jpg")
    out, summary = _client(app_url).predict(
        [handle_file(str(ASTRONAUT)), handle_file(str(broken)), handle_file(str(photos))], "sliders",
        '{"smile": 1.5}', None, ["eyes"], "largest", api_name="/batch")
    assert "broken.jpg" in summary and "done: 2 of 3" in summary
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        assert names == {"astronaut_edited.png", "hopper_edited.png", "summary.txt"}
        edited = np.asarray(Image.open(io.BytesIO(zf.read("astronaut_edited.png"))).convert("RGB"))
        assert "broken.jpg" in zf.read("summary.txt").decode()
    original = _rgb(str(ASTRONAUT))
    assert edited.shape == original.shape and np.any(edited != original)


def test_batch_swap_needs_a_reference_and_sliders_need_values(app_url) -> None:
    from gradio_client import handle_file

    client = _client(app_url)
    try:
        client.predict([handle_file(str(ASTRONAUT))], "swap", "", None, ["eyes"], "largest", api_name="/batch")
        raise AssertionError("a swap batch without a reference must fail")
    except Exception as err:  # gradio_client raises AppError with the page's message
        assert "reference portrait" in str(err)
    try:
        client.predict([handle_file(str(ASTRONAUT))], "sliders", '{"wings": 1}', None, [], "largest",
                       api_name="/batch")
        raise AssertionError("an unknown slider must fail")
    except Exception as err:
        assert "wings" in str(err) and "smile" in str(err)


def test_the_overlay_hatches_a_hand_in_front_of_the_face(app_url, monkeypatch) -> None:
    """/parse's canvas shows the occluder: a hand over the mouth changes the overlay there and only there."""
    from gradio_client import handle_file

    import faceedit.parsing.landmark as landmark

    client = _client(app_url)
    plain = client.predict(handle_file(str(ASTRONAUT)), api_name="/parse")
    assert "parse_notes" in plain[5] and plain[5]["parse_notes"]["occluder"].startswith("no hand")

    def hand_over_mouth(crop: np.ndarray) -> list[np.ndarray]:
        mouth = landmark.central_face(crop).landmarks[[61, 291], :2].mean(0)
        hand = np.zeros((21, 2), np.float32)
        hand[0] = mouth + (0, 60)
        for f, x in enumerate((-30, -12, 4, 20, 34)):
            for k in range(4):
                hand[1 + 4 * f + k] = mouth + (x, 30 - 18 * k)
        return [hand]

    monkeypatch.setattr(landmark, "detect_hands", hand_over_mouth)
    covered = _client(app_url).predict(handle_file(str(ASTRONAUT)), api_name="/parse")
    assert "hand" in covered[5]["parse_notes"]["occluder"]
    before, after = _rgb(plain[3]["background"]), _rgb(covered[3]["background"])
    differs = np.any(before != after, -1)
    assert differs.sum() > 2000  # the hatched hand
    ys, xs = np.nonzero(differs)
    assert 300 < ys.mean() < 460 and 180 < xs.mean() < 330, "where the mouth is in the 512 px crop"
    # Hatched (white stripes) with a magenta rim, not merely relabelled as background.
    white, rim = np.all(after == 255, -1) & differs, np.all(after == (255, 0, 255), -1)
    assert white.sum() > 500 and rim.sum() > 100 and not np.all(before == (255, 0, 255), -1).any()


def test_preview_endpoint_shows_the_edit_without_adding_to_the_history(app_url) -> None:
    from gradio_client import handle_file

    client = _client(app_url)
    out = client.predict(handle_file(str(ASTRONAUT)), api_name="/parse")
    slots = out[5]["slots"]
    values = [1.5 if name == "smile" else 0.0 for name in slots]
    before, preview = client.predict(*values, api_name="/preview")
    assert "preview-" in preview
    changed = np.any(_rgb(before) != _rgb(preview), -1)
    assert changed.sum() > 1000 and not changed[:100].any(), "the mouth moves, the hair line stays"
    # Nothing to undo: the photo shown after undo is the original one.
    undone = client.predict(api_name="/undo")
    assert np.array_equal(_rgb(undone[1]), _rgb(str(ASTRONAUT)))
