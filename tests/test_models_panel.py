"""The Models tab of the running app (issue 18): from an empty cache, a loopback Hub (tests/hubserver.py) serves
official-layout synthetic checkpoints of the "sliders" preset (tests/panel_fixtures.py); through gradio_client the
page's Download fetches them with progress, and the same running app then answers a slider with the GAN engine.
Offline the button answers readably within 2 s; a corrupted file leaves nothing in the cache; an app started as a
Space with FACEEDIT_MODELS downloads at start-up and ends up serving GAN results.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import panel_fixtures as pf
import pytest
import test_weights as tw
from helpers import client as _client
from helpers import read_rgb as _rgb
from hubserver import HubServer

REPO = Path(__file__).resolve().parents[1]
HOPPER = REPO / "assets" / "grace_hopper.jpg"
CORRUPT = "corrupt.file"
SLOW = np.random.default_rng(8).bytes(3_000_000)
MANUAL = b"a checkpoint from Google Drive" * 1000


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _serve(tmp: Path) -> tuple[HubServer, dict[str, str]]:
    """The loopback Hub with the sliders preset (and one corrupted row) and the environment pointing at it."""
    server = HubServer()
    url = server.start()
    rows = pf.sliders_rows(server)
    good = np.random.default_rng(7).bytes(200_000)
    bad = bytearray(good)
    bad[1234] ^= 0xFF
    server.add("org/repo", "corrupt.pt", bytes(bad))
    rows.append(tw.blob_entry(CORRUPT, good, filename="corrupt.pt"))
    server.add("org/repo", "slow.pt", SLOW)
    rows.append(tw.blob_entry("slow.file", SLOW, filename="slow.pt"))
    rows.append(tw.blob_entry("manual.file", MANUAL, repo_id=None, revision=None, filename="manual.pt",
                              source_url="https://drive.google.com/file/d/abc"))
    server.add("org/gated", "g.pt", b"secret")
    server.gated["org/gated"] = 401
    rows.append(tw.blob_entry("gated.file", b"secret", repo_id="org/gated", filename="g.pt"))
    rows.append(tw.blob_entry("missing.file", b"gone", filename="absent.pt"))
    manifest = tw.write_manifest(tmp / "manifest.toml", rows)
    manifest.write_text(manifest.read_text() + "\n" + pf.PRESETS)
    env = {"HF_ENDPOINT": url, "FACEEDIT_WEIGHTS_DIR": str(tmp / "cache"), "FACEEDIT_MANIFEST": str(manifest),
           "FACEEDIT_URL_MIRROR": f"{tw.RAW}={url}/raw/", "HF_HUB_DISABLE_TELEMETRY": "1"}
    return server, env


@pytest.fixture(scope="module")
def panel_app(tmp_path_factory):
    """The app in-process (as tests/conftest.py's app_url), automatic engine, over an empty weights cache."""
    import huggingface_hub.constants

    from faceedit import weights
    from faceedit.ui import build_demo, launch_kwargs

    tmp = tmp_path_factory.mktemp("panel")
    server, env = _serve(tmp)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        mp.delenv("HF_HUB_OFFLINE", raising=False)
        mp.delenv("FACEEDIT_ENGINE", raising=False)
        mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        weights.clear_model_cache()
        assert _files(Path(env["FACEEDIT_WEIGHTS_DIR"])) == []
        demo = build_demo()
        demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_kwargs())
        try:
            yield demo.local_url, server, Path(env["FACEEDIT_WEIGHTS_DIR"]), mp
        finally:
            demo.close()
            server.stop()
            weights.clear_model_cache()


def test_offline_the_download_button_answers_readably_within_two_seconds(panel_app) -> None:
    url, server, cache, mp = panel_app
    client = _client(url)
    mp.setenv("HF_HUB_OFFLINE", "1")
    try:
        t0 = time.perf_counter()
        out = client.predict("sliders", api_name="/models_download")
        took = time.perf_counter() - t0
    finally:
        mp.delenv("HF_HUB_OFFLINE")
    progress, message = out[0], out[1]
    assert took < 2.0, took
    assert "failed" in message and "HF_HUB_OFFLINE=1" in message, message
    assert "Traceback" not in message and "fe-job-failed" in progress
    assert [p for p in _files(cache) if p.suffix != ".json"] == [] and server.requests == []


def test_a_corrupted_file_leaves_nothing_in_the_cache(panel_app) -> None:
    url, server, cache, _ = panel_app
    client = _client(url)
    out = client.predict("family:corrupt", api_name="/models_download")  # the page's menu: model family "corrupt"
    message = out[1]
    deadline = time.monotonic() + 30
    while "checksum mismatch" not in message and time.monotonic() < deadline:
        time.sleep(0.2)
        message = client.predict(api_name="/models_progress")[1]
    assert "checksum mismatch" in message and "discarded" in message, message
    assert [p for p in _files(cache) if "corrupt" in str(p)] == []


def test_download_the_sliders_preset_then_a_slider_runs_on_the_gan_engine(panel_app) -> None:
    from gradio_client import handle_file

    url, server, cache, _ = panel_app
    client = _client(url)
    opened = client.predict(handle_file(str(HOPPER)), api_name="/parse")  # a session opened on the lite engine
    assert opened[5]["engine"] == "lite"
    server.delay = 0.004  # 64 KiB per 4 ms: the 21 MB e4e file takes over a second, time to watch it move
    out = client.predict("sliders", api_name="/models_download")
    seen = [out[0]]
    message = out[1]
    deadline = time.monotonic() + 240
    while not ("uses the new models" in message or "could not be loaded" in message) and time.monotonic() < deadline:
        out = client.predict(api_name="/models_progress")
        seen.append(out[0])
        message = out[1]
        time.sleep(0.05)
    server.delay = 0.0
    assert "uses the new models from the next edit on" in message, message
    running = [h for h in seen if "fe-job-running" in h and "MB/s" in h and " of " in h]
    assert running, seen[:5]
    assert "GAN" in out[2].split("sliders:")[1].split("</b>")[0], out[2]  # the engine line
    presets = out[3]
    rows = presets["data"] if isinstance(presets, dict) else presets
    assert any(r[0] == "sliders" and r[1].startswith("installed, verified") for r in rows), rows
    for name in ("bisenet.celebamask_hq", "e4e.ffhq_encode", "e4e.direction.smile"):
        assert any(name in str(p) for p in _files(cache)), name
    # the session opened before the download: its next slider (the page's "smile" slot, as the page showed it
    # on the lite engine) runs on the GAN engine, in the same app
    slots = opened[5]["slots"]
    values = [0.0] * len(slots)
    values[slots.index("smile")] = 1.5
    result = client.predict(*values, api_name="/attributes")
    assert "GAN engine" in result[2], result[2]
    before = _rgb(str(HOPPER))
    after = _rgb(result[0][1])
    assert after.shape == before.shape and np.abs(after.astype(int) - before).max() > 0
    named = client.predict({"smile": -1.5}, api_name="/set_attributes")  # the sliders now shown are the GAN ones
    assert "GAN engine" in named[2] and not np.array_equal(_rgb(named[0][1]), after)
    # and a photo opened now starts on the GAN engine
    fresh = client.predict(handle_file(str(HOPPER)), api_name="/parse")
    assert fresh[5]["engine"] == "gan+lite" and "smile" in fresh[5]["attributes"]  # sliders GAN, mask and swap lite


@pytest.mark.parametrize("family,expected", [
    ("gated", ["org/gated is a gated repository on the Hub (HTTP 401)", "HF_TOKEN", "https://huggingface.co/org/gated"]),
    ("missing", ["org/repo@main:absent.pt was not found (HTTP 404)"]),
])
def test_a_gated_or_missing_file_reads_plainly(panel_app, family: str, expected: list[str]) -> None:
    url, server, cache, _ = panel_app
    client = _client(url)
    message = client.predict(f"family:{family}", api_name="/models_download")[1]
    deadline = time.monotonic() + 20
    while ": failed" not in message and time.monotonic() < deadline:
        time.sleep(0.1)
        message = client.predict(api_name="/models_progress")[1]
    assert all(e in message for e in expected), message
    assert "Traceback" not in message and [p for p in _files(cache) if family in str(p)] == []


def test_cancel_then_download_again_resumes(panel_app) -> None:
    url, server, cache, _ = panel_app
    client = _client(url)
    server.delay = 0.03  # ~1.4 s for the file
    out = client.predict("family:slow", api_name="/models_download")
    deadline = time.monotonic() + 30
    while ("fe-job-running" not in out[0] or " 0 B of" in out[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
        out = client.predict(api_name="/models_progress")
    time.sleep(0.3)
    cancelled = client.predict(api_name="/models_cancel")
    assert "cancelled" in cancelled[1] and "press Download again to resume" in cancelled[1], cancelled[1]
    server.delay = 0.0
    server.requests.clear()
    out = client.predict("family:slow", api_name="/models_download")
    while "slow.*: done" not in out[1] and time.monotonic() < deadline:
        time.sleep(0.1)
        out = client.predict(api_name="/models_progress")
    assert "slow.*: done" in out[1] and "1 file installed" in out[1], out[1]
    ranges = [r[2] for r in server.requests if r[0] == "GET" and r[1].endswith("slow.pt")]
    assert ranges and ranges[-1] is not None and int(ranges[-1][6:].split("-")[0]) > 0, ranges  # resumed
    from faceedit import weights

    assert weights.local_path("slow.file").read_bytes() == SLOW


def test_a_drive_only_file_is_imported_through_the_upload_field(panel_app, tmp_path: Path, monkeypatch) -> None:
    """Wrong bytes are refused readably; the right file is installed, and the rebuild it causes loads no model
    that is already loaded."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    from faceedit.models import psp

    url, server, cache, _ = panel_app
    client = _client(url)
    out = client.predict("family:manual", api_name="/models_download")
    assert "import by hand" in out[1] and "drive.google.com/file/d/abc" in out[1], out[1]
    loads = []
    real = psp.load_e4e
    monkeypatch.setattr(psp, "load_e4e", lambda *a, **k: loads.append(1) or real(*a, **k))
    wrong = tmp_path / "manual.pt"
    wrong.write_bytes(b"x" * len(MANUAL))
    with pytest.raises(AppError, match="checksum mismatch"):
        client.predict(handle_file(str(wrong)), "", api_name="/models_import")
    wrong.write_bytes(MANUAL)
    note = client.predict(handle_file(str(wrong)), "manual.file", api_name="/models_import")[0]
    assert "manual.file imported and verified" in note and "next edit uses it" in note, note
    assert loads == []  # the composer was rebuilt around the e4e already loaded


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_space_started_with_faceedit_models_ends_up_serving_gan_results(tmp_path: Path) -> None:
    """app.py as a Space runs it (SPACE_ID, FACEEDIT_MODELS=sliders): downloads at start, lite meanwhile, then GAN."""
    from gradio_client import handle_file

    server, env = _serve(tmp_path)
    port = _free_port()
    run_env = {**os.environ, **env, "SPACE_ID": "someone/faceedit", "FACEEDIT_MODELS": "sliders",
               "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1", "OMP_NUM_THREADS": "1",
               "GRADIO_ANALYTICS_ENABLED": "False"}
    run_env.pop("HF_HUB_OFFLINE", None)
    run_env.pop("FACEEDIT_ENGINE", None)
    log = (tmp_path / "app.log").open("w")
    proc = subprocess.Popen([sys.executable, str(REPO / "app.py")], cwd=tmp_path, env=run_env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 180
        client = None
        while client is None and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "app.log").read_text()[-3000:]
            try:
                client = _client(url)
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(1)
        assert client is not None, (tmp_path / "app.log").read_text()[-3000:]
        line = ""
        while time.monotonic() < deadline:
            line = client.predict(api_name="/models_progress")[2]
            if "GAN" in line.split("sliders:")[1].split("</b>")[0]:
                break
            time.sleep(1)
        assert "GAN" in line.split("sliders:")[1].split("</b>")[0], (line, (tmp_path / "app.log").read_text()[-3000:])
        assert any(r[1] == "/e4e.ffhq_encode" or "e4e_ffhq_encode" in r[1] for r in server.requests)
        opened = client.predict(handle_file(str(HOPPER)), api_name="/parse")
        assert opened[5]["engine"] == "gan+lite"
        result = client.predict({"smile": 1.5}, api_name="/set_attributes")
        assert "GAN engine" in result[2], result[2]
        sha = hashlib.sha256(pf.e4e_bytes()).hexdigest()
        assert any(sha[:8] in p.name or "e4e" in str(p) for p in _files(Path(env["FACEEDIT_WEIGHTS_DIR"])))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        server.stop()
