"""The download manager (faceedit.weights.manager) and the Models panel's catalogue, against the loopback Hub.

Every download goes to tests/hubserver.py on 127.0.0.1; nothing touches the network.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import test_weights as tw
import torch
from hubserver import HubServer

from faceedit import weights
from faceedit.errors import InvalidArgumentError, WeightsVerificationError
from faceedit.weights import catalogue, manager
from faceedit.weights.manager import DownloadManager, InstalledEvent

hub = tw.hub
use_manifest = tw.use_manifest
RAW = tw.RAW


def files_in(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture()
def presets_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``use(entries, presets_toml)``: a manifest of ``entries`` rows plus a ``[presets]`` block."""

    def use(entries: list[dict], presets: str) -> None:
        path = tw.write_manifest(tmp_path / f"manifest{time.monotonic_ns()}.toml", entries)
        path.write_text(path.read_text() + "\n" + presets)
        monkeypatch.setenv("FACEEDIT_MANIFEST", str(path))

    return use


PRESETS = """
[presets.sliders]
title = "sliders"
description = "directions"
entries = ["e4e.direction.*", "ganspace.ffhq_pca"]

[presets.random]
title = "random faces"
description = "generator"
entries = ["stylegan2.ffhq"]
includes = ["sliders"]

[presets.faceswap]
title = "face swap"
description = "not there yet"
entries = ["ghost.g_unet_2blocks", "ghost.arcface"]
"""


def serve_official_layouts(server: HubServer, data_dir: Path) -> list[dict]:
    """Rows of the real manifest served by the loopback Hub: the published direction files (tests/data) and a
    small StyleGAN2 generator in rosinality's layout under the real generator row's repo and file name."""
    rows = []
    for name in ("e4e.direction.age", "e4e.direction.smile", "e4e.direction.pose", "ganspace.ffhq_pca"):
        row = tw.real_entry(name)
        in_repo = "editings/" + row["url"].split("/editings/", 1)[1]
        server.raw[row["url"][len(RAW) :]] = (data_dir / "public-weights" / "omertov_encoder4editing" / in_repo).read_bytes()
        rows.append(row)
    from faceedit.models.stylegan2 import Generator

    torch.manual_seed(0)
    data = tw.torch_bytes({"g_ema": Generator(64, channel_multiplier=1).state_dict(), "latent_avg": torch.randn(512)})
    row = tw.real_entry("stylegan2.ffhq", sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    server.add(row["repo_id"], row["filename"], data)
    rows.append(row)
    return rows


def poll(mgr: DownloadManager, job: int, timeout: float = 60.0) -> list[manager.JobSnapshot]:
    """Snapshots every 5 ms until the job has finished."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = mgr.snapshot(job)
        seen.append(snap)
        if not snap.active:
            return seen
        time.sleep(0.005)
    raise AssertionError(f"job {job} did not finish: {seen[-1]}")


# --- a preset from an empty cache ---------------------------------------------------------------------


def test_preset_downloads_with_progress_and_fires_installed(hub: HubServer, presets_manifest, data_dir: Path) -> None:
    presets_manifest(serve_official_layouts(hub, data_dir), PRESETS)
    hub.delay = 0.0005  # ~0.7 s for the generator: time to watch the bytes move
    assert files_in(weights.weights_dir()) == []
    mgr = DownloadManager()
    events: list[InstalledEvent] = []
    mgr.on_installed(events.append)
    job = mgr.start("random faces")  # by title; includes the sliders preset
    snaps = poll(mgr, job)
    last = snaps[-1]
    assert last.state == "done", last.message
    assert set(last.installed) == {"stylegan2.ffhq", "e4e.direction.age", "e4e.direction.smile",
                                   "e4e.direction.pose", "ganspace.ffhq_pca"}
    running = [s for s in snaps if s.state == "running" and s.current == "stylegan2.ffhq" and s.done_bytes]
    done = [s.done_bytes for s in running]
    assert len(set(done)) >= 3 and done == sorted(done)  # bytes increasing while it ran
    assert all(s.total_bytes == last.total_bytes for s in running) and last.done_bytes == last.total_bytes
    assert any(s.speed > 0 and s.eta is not None for s in running)
    assert "MB/s" in running[-1].text and "of" in running[-1].text
    # completion fired once, with everything installed, and the generation moved
    assert len(events) == 1 and events[0].generation == mgr.generation == 1
    assert set(events[0].names) == set(last.installed)
    # the files are verified and load through the registry: the composer built now gets the GAN pieces
    assert all(weights.local_path(n) is not None for n in last.installed)
    net = weights.load_model("stylegan2.ffhq", device="cpu")
    assert net.size == 64
    assert weights.load_verified("e4e.direction.smile").shape == (1, 512)
    # a second start finds everything present: no download, no event
    hub.requests.clear()
    again = mgr.wait(mgr.start("random"), timeout=10)
    assert again.state == "done" and again.installed == () and len(again.present) == 5
    assert tw.gets(hub) == [] and mgr.generation == 1


def test_cancel_then_resume_completes_with_the_right_hash(hub: HubServer, use_manifest) -> None:
    data = np.random.default_rng(3).bytes(4_000_000)
    hub.add("org/repo", "big.pt", data)
    use_manifest([tw.blob_entry("big", data, filename="big.pt")])
    hub.delay = 0.03  # ~1.8 s for the whole file: time to cancel on a loaded machine
    mgr = DownloadManager()
    events: list[InstalledEvent] = []
    mgr.on_installed(events.append)
    job = mgr.start("big")
    deadline = time.monotonic() + 20
    while mgr.snapshot(job).done_bytes < 600_000 and time.monotonic() < deadline:
        time.sleep(0.005)
    mgr.cancel(job)
    snap = mgr.wait(job, timeout=10)
    assert snap.state == "cancelled" and "start it again to resume" in snap.message, snap
    part = weights.download.part_path(weights.spec_for("big"))
    kept = part.stat().st_size
    assert 600_000 <= kept < len(data) and weights.local_path("big") is None and events == [], (kept, events)
    hub.delay = 0.0
    job2 = mgr.start("big")
    snaps = poll(mgr, job2)
    assert snaps[-1].state == "done" and snaps[-1].installed == ("big",), snaps[-1]
    resumed = [s.done_bytes for s in snaps if s.state == "running" and s.done_bytes]
    assert not resumed or min(resumed) >= kept, (resumed[:3], kept)  # counted from the part file, not from 0
    path = weights.local_path("big")
    assert path is not None and hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    ranges = [r[2] for r in tw.gets(hub)]
    assert ranges[-1] == f"bytes={kept}-" and not part.exists()
    assert len(events) == 1 and events[0].names == ("big",)


def test_hub_cdn_redirect_keeps_range_and_drops_the_token(hub: HubServer, use_manifest, monkeypatch) -> None:
    """The Hub sends LFS files to a CDN (302): the resume Range follows the redirect, the Hub token does not."""
    data = np.random.default_rng(6).bytes(2_000_000)
    hub.add("org/repo", "lfs.pt", data)
    hub.redirect_host = "localhost"  # another host name for the same loopback server
    hub.delay = 0.01
    monkeypatch.setenv("HF_TOKEN", "hf_faceedit_test_token")
    use_manifest([tw.blob_entry("lfs", data, filename="lfs.pt")])
    mgr = DownloadManager()
    job = mgr.start("lfs")
    deadline = time.monotonic() + 20
    while mgr.snapshot(job).done_bytes < 300_000 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert mgr.wait(mgr.cancel(job).job_id, timeout=10).state == "cancelled"
    hub.delay = 0.0
    assert mgr.wait(mgr.start("lfs"), timeout=20).state == "done"
    assert weights.local_path("lfs").read_bytes() == data
    log = list(zip(hub.requests, hub.auth))
    resolve = [(r, a) for r, a in log if "/resolve/" in r[1]]
    cdn = [(r, a) for r, a in log if r[1].startswith("/raw/lfs/")]
    assert resolve and all(a == "Bearer hf_faceedit_test_token" for _, a in resolve)
    assert len(cdn) == 2 and all(a is None for _, a in cdn)
    assert cdn[0][0][2] is None and cdn[1][0][2] is not None and int(cdn[1][0][2][6:].split("-")[0]) >= 300_000


# --- readable failures --------------------------------------------------------------------------------


def test_offline_answers_readably_within_two_seconds(hub: HubServer, use_manifest, monkeypatch) -> None:
    hub.add("org/repo", "o.pt", b"data")
    use_manifest([tw.blob_entry("o", b"data", filename="o.pt"),
                  tw.blob_entry("ou", b"data", repo_id=None, url=f"{RAW}o/o.pt", filename="o.pt")])
    mgr = DownloadManager()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    snap = mgr.wait(mgr.start("o"), timeout=2)
    assert time.perf_counter() - t0 < 2 and snap.state == "failed"
    assert "HF_HUB_OFFLINE=1" in snap.message and "weights import PATH --name o" in snap.message
    # nothing listening on the endpoint (a machine without network): same answer, as fast
    monkeypatch.delenv("HF_HUB_OFFLINE")
    tw.point_at_dead_server(monkeypatch)
    for name in ("o", "ou"):
        t0 = time.perf_counter()
        snap = mgr.wait(mgr.start(name), timeout=2)
        assert time.perf_counter() - t0 < 2 and snap.state == "failed"
        assert "cannot be reached" in snap.message and snap.failed[0][0] == name
    assert hub.requests == []


def test_a_stuck_name_resolver_counts_as_offline(monkeypatch) -> None:
    """The probe bounds DNS too: a resolver that never answers gives "offline" after PROBE_TIMEOUT."""
    from faceedit.weights import download

    monkeypatch.setattr(download, "_unreachable", lambda url, timeout=3.0: time.sleep(30))
    t0 = time.perf_counter()
    why = download._probe("https://huggingface.co", timeout=0.3)
    assert why is not None and "no answer" in why and time.perf_counter() - t0 < 1


def test_corrupted_file_leaves_nothing_in_the_cache(hub: HubServer, use_manifest) -> None:
    good = np.random.default_rng(4).bytes(400_000)
    bad = bytearray(good)
    bad[123_456] ^= 0xFF  # one flipped byte, same size
    hub.add("org/repo", "c.pt", bytes(bad))
    hub.raw["c/c.npy"] = bytes(bad)
    use_manifest([tw.blob_entry("c", good, filename="c.pt"),
                  tw.blob_entry("cu", good, repo_id=None, url=f"{RAW}c/c.npy", filename="c.npy")])
    mgr = DownloadManager()
    events: list[InstalledEvent] = []
    mgr.on_installed(events.append)
    for name in ("c", "cu"):
        snap = mgr.wait(mgr.start(name), timeout=20)
        assert snap.state == "failed" and "checksum mismatch" in snap.message and "discarded" in snap.message
        assert hashlib.sha256(good).hexdigest() in snap.message and hashlib.sha256(bad).hexdigest() in snap.message
    assert files_in(weights.weights_dir()) == [] and events == []
    # the command line's Hub download (hf_hub_download) cleans up after itself the same way
    with pytest.raises(WeightsVerificationError, match="checksum mismatch"):
        weights.fetch("c", progress=False)
    assert [p for p in files_in(weights.weights_dir()) if "blobs" in p.parts or "snapshots" in p.parts] == []


def test_not_enough_disk_space_is_refused_before_downloading(hub: HubServer, use_manifest, monkeypatch) -> None:
    data = b"x" * 50_000
    hub.add("org/repo", "d.pt", data)
    use_manifest([tw.blob_entry("d", data, filename="d.pt", size=3_000_000_000)])
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**11, 10**11 - 10**9, 10**9))
    mgr = DownloadManager()
    snap = mgr.wait(mgr.start("d"), timeout=5)
    assert snap.state == "failed" and "not enough free disk space" in snap.message
    assert "3.0 GB" in snap.message and "1.0 GB free" in snap.message and "FACEEDIT_WEIGHTS_DIR" in snap.message
    assert hub.requests == []  # refused before any request


def test_disk_full_during_the_download_is_readable(hub: HubServer, use_manifest, monkeypatch) -> None:
    import builtins
    import errno

    data = np.random.default_rng(5).bytes(300_000)
    hub.add("org/repo", "f.pt", data)
    use_manifest([tw.blob_entry("f", data, filename="f.pt")])
    real_open = builtins.open

    class Full(io.RawIOBase):
        def __init__(self, f):
            self.f = f

        def write(self, b):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

    def fake_open(file, mode="r", *a, **k):
        f = real_open(file, mode, *a, **k)
        return Full(f) if str(file).endswith(".part") and mode in ("wb", "ab") else f

    monkeypatch.setattr(builtins, "open", fake_open)
    mgr = DownloadManager()
    snap = mgr.wait(mgr.start("f"), timeout=10)
    assert snap.state == "failed" and "is full" in snap.message and "No space left" in snap.message


@pytest.mark.parametrize("status", [401, 403])
def test_gated_repo_says_how_to_get_access(status: int, hub: HubServer, use_manifest, capsys) -> None:
    hub.add("org/gated", "g.pt", b"secret")
    hub.gated["org/gated"] = status
    use_manifest([tw.blob_entry("g", b"secret", repo_id="org/gated", filename="g.pt")])
    mgr = DownloadManager()
    snap = mgr.wait(mgr.start("g"), timeout=10)
    assert snap.state == "failed"
    assert f"org/gated is a gated repository on the Hub (HTTP {status})" in snap.message
    assert "https://huggingface.co/org/gated" in snap.message and "HF_TOKEN" in snap.message
    rc, out = tw.run_cli(["weights", "fetch", "g", "--quiet"], capsys)  # the command line says the same
    assert rc == 2 and "gated repository" in out and "HF_TOKEN" in out


def test_404_is_readable(hub: HubServer, use_manifest) -> None:
    use_manifest([tw.blob_entry("n", b"x", filename="absent.pt")])
    mgr = DownloadManager()
    snap = mgr.wait(mgr.start("n"), timeout=10)
    assert snap.state == "failed" and "org/repo@main:absent.pt was not found (HTTP 404)" in snap.message
    with pytest.raises(InvalidArgumentError, match="neither a preset .* nor a registry entry"):
        mgr.start("no-such-model")


# --- Google Drive / Baidu only: import by hand ----------------------------------------------------------


def test_drive_only_rows_say_where_and_how_to_import(hub: HubServer, use_manifest, tmp_path: Path) -> None:
    data = b"segtoface" * 100
    drive = "https://drive.google.com/file/d/1VpEKc6E6yG3xhYuZ0cq8D2_1CbT0Dstz"
    files = ["latest_net_G.pth", "latest_net_encoder_skin.pth"]
    use_manifest([
        tw.blob_entry("seg", data, repo_id=None, revision=None, filename="psp_celebs_seg_to_face.pt", source_url=drive),
        {"name": "folder", "description": "two files", "loader": "faceedit.weights:load_checkpoint", "kind": "folder",
         "files": files, "source_url": "https://pan.baidu.com/s/abc (code x)"},
    ])
    mgr = DownloadManager()
    events: list[InstalledEvent] = []
    mgr.on_installed(events.append)
    snap = mgr.wait(mgr.start("seg"), timeout=5)
    assert snap.state == "done" and snap.installed == () and snap.manual[0][0] == "seg"
    text = snap.manual[0][1]
    assert "only on Google Drive" in text and drive in text and "psp_celebs_seg_to_face.pt" in text
    assert "faceedit weights import PATH --name seg" in text and "upload field" in text
    assert "Baidu Pan" in mgr.wait(mgr.start("folder"), timeout=5).manual[0][1]
    assert hub.requests == []
    # the upload field's backend: a wrong file is refused, the right one installed and announced
    wrong = tmp_path / "psp_celebs_seg_to_face.pt"
    wrong.write_bytes(b"X" * len(data))
    with pytest.raises(WeightsVerificationError, match="checksum mismatch"):
        manager.import_upload(wrong, manager=mgr)
    assert weights.local_path("seg") is None and events == []
    wrong.write_bytes(data)
    result = manager.import_upload(wrong, manager=mgr)
    assert result.name == "seg" and weights.local_path("seg") == result.path
    assert events[-1].names == ("seg",) and mgr.generation == 1
    # a folder entry arrives as a .zip (one top folder inside, as Drive's "download folder" gives it)
    archive = tmp_path / "pretrained.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in files:
            zf.writestr(f"pretrained/{f}", b"w")
    assert manager.import_upload(archive, manager=mgr).name == "folder" and weights.local_path("folder") is not None
    assert mgr.generation == 2
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../outside.pth", b"w")
    with pytest.raises(InvalidArgumentError, match="outside the archive"):
        manager.import_upload(evil, manager=mgr)


# --- start-up: FACEEDIT_MODELS, persistent storage -------------------------------------------------------


def test_startup_downloads_from_faceedit_models(hub: HubServer, presets_manifest, data_dir: Path, monkeypatch) -> None:
    presets_manifest(serve_official_layouts(hub, data_dir), PRESETS)
    mgr = DownloadManager()
    rebuilt = threading.Event()
    mgr.on_installed(lambda e: rebuilt.set())
    assert manager.start_from_env(mgr, {"FACEEDIT_MODELS": "none"}) == []
    monkeypatch.setenv("FACEEDIT_MODELS", "sliders, random,nonsense")
    jobs = manager.start_from_env(mgr)
    assert len(jobs) == 2  # the unknown item is skipped (logged)
    first, second = (mgr.wait(j, timeout=60) for j in jobs)
    assert first.state == second.state == "done"
    assert set(first.installed) == {"e4e.direction.age", "e4e.direction.smile", "e4e.direction.pose",
                                    "ganspace.ffhq_pca"}
    assert second.installed == ("stylegan2.ffhq",) and len(second.present) == 4
    assert rebuilt.is_set() and mgr.generation == 2 and weights.local_path("stylegan2.ffhq") is not None


def test_weights_go_to_persistent_storage_on_a_space(tmp_path: Path, monkeypatch) -> None:
    from faceedit.weights import cache

    monkeypatch.delenv("FACEEDIT_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(cache, "PERSISTENT_STORAGE", tmp_path / "data")
    monkeypatch.setenv("SPACE_ID", "user/faceedit")
    assert weights.weights_dir() == tmp_path / "hf" / "faceedit"  # a Space without storage: no /data
    (tmp_path / "data").mkdir()
    assert weights.weights_dir() == tmp_path / "data" / "weights"
    monkeypatch.delenv("SPACE_ID")
    assert weights.weights_dir() == tmp_path / "hf" / "faceedit"  # /data elsewhere is not ours
    monkeypatch.setenv("FACEEDIT_WEIGHTS_DIR", str(tmp_path / "mine"))
    assert weights.weights_dir() == tmp_path / "mine"


# --- the catalogue: presets and families of the real manifest -------------------------------------------


def test_real_presets_say_what_they_unlock_cost_and_license(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FACEEDIT_WEIGHTS_DIR", str(tmp_path / "empty"))
    offers = {o.key: o for o in catalogue.preset_offers()}
    assert list(offers) == ["sliders", "random", "mask", "faceswap", "art"]
    sliders = offers["sliders"]
    assert {"bisenet.celebamask_hq", "e4e.ffhq_encode", "e4e.direction.smile", "ganspace.ffhq_pca",
            "interfacegan.stylegan2_ffhq_w.Smiling"} <= set(sliders.names)
    assert sliders.size_unknown == 0 and sliders.size_text.endswith("GB")
    assert 1.25e9 < sliders.size_known < 1.3e9  # e4e 1.2 GB + BiSeNet 53 MB + the direction files
    assert "Attributes tab: GAN sliders" in sliders.unlocks and {"smile", "age", "eyeglasses"} <= set(sliders.sliders)
    assert sliders.non_commercial and sliders.state == "missing" and not sliders.verified
    random = offers["random"]
    assert set(sliders.names) < set(random.names) and "stylegan2.ffhq" in random.names
    assert "Random face tab" in random.unlocks
    if weights.spec_for("stylegan2.ffhq").size is None:
        assert "of unknown size" in random.size_text
    mask = offers["mask"]
    assert {"gu2019.mask_guided", "psp.celebs_seg_to_face"} <= set(mask.manual)
    assert "Paint mask tab: GAN redraw" in mask.unlocks
    face_swap = offers["faceswap"]
    if not face_swap.entries:  # the ghost.* rows arrive with the face-swap branch
        assert face_swap.state == "unavailable" and face_swap.not_yet and face_swap.size_text == "unknown"
    rows = catalogue.panel_rows(list(offers.values()))
    assert len(rows) == 5 and all(len(r) == len(catalogue.PANEL_COLUMNS) for r in rows)
    assert rows[0][0] == "sliders" and rows[0][1] == "missing" and rows[0][4].startswith("NON-COMMERCIAL terms")
    assert rows[2][2].endswith("2 by hand") and "(some terms not established)" in rows[2][4]
    assert catalogue.find_preset("Random Faces").key == "random" and catalogue.find_preset("mask_painting").key == "mask"
    families = {o.key: o for o in catalogue.family_offers()}
    assert len(families["directions"].entries) == 43 and families["directions"].size_text.endswith("kB")
    assert families["stylegan2"].non_commercial and not families["directions"].non_commercial
    l2m = families["l2m"].entries[0]
    assert l2m.licence_unknown and not l2m.downloadable and l2m.state == "missing"


def test_states_follow_the_cache(hub: HubServer, presets_manifest, data_dir: Path) -> None:
    presets_manifest(serve_official_layouts(hub, data_dir), PRESETS)
    offers = {o.key: o for o in catalogue.preset_offers()}
    assert offers["sliders"].state == "missing" and offers["faceswap"].not_yet == ("ghost.g_unet_2blocks", "ghost.arcface")
    mgr = DownloadManager()
    mgr.wait(mgr.start("sliders"), timeout=30)
    offers = {o.key: o for o in catalogue.preset_offers()}
    assert offers["sliders"].state == "installed" and offers["sliders"].verified
    assert offers["random"].state == "partial"
    snap = mgr.wait(mgr.start("face swap"), timeout=5)  # a preset whose rows are not in this manifest yet
    assert snap.state == "done" and snap.names == () and "not in this version's manifest yet" in snap.message


def test_cli_fetches_a_preset_and_lists_presets(hub: HubServer, presets_manifest, data_dir: Path, capsys) -> None:
    presets_manifest(serve_official_layouts(hub, data_dir), PRESETS)
    rc, out = tw.run_cli(["weights", "presets"], capsys)
    assert rc == 0 and "random (random faces): missing" in out and "NON-COMMERCIAL" in out
    assert "face swap" in out and "not in this version's manifest yet: ghost.g_unet_2blocks" in out
    rc, out = tw.run_cli(["weights", "fetch", "--preset", "sliders", "--preset", "face swap", "--quiet"], capsys)
    assert rc == 0 and "e4e.direction.smile:" in out and "ganspace.ffhq_pca:" in out and "ghost.arcface" in out
    rc, out = tw.run_cli(["weights", "presets"], capsys)
    assert "sliders (sliders): installed" in out and "random (random faces): partial" in out
