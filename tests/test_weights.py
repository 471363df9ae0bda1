"""Weights registry: real ``hf_hub_download`` against a local Hub, verification, safe loading, capabilities."""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import pickle
import socket
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from hubserver import HubServer

from faceedit import weights
from faceedit.errors import (
    InvalidArgumentError,
    OfflineError,
    UnsupportedEditError,
    WeightsMissingError,
    WeightsVerificationError,
)

REPO = Path(__file__).resolve().parents[1]
RAW = "https://raw.githubusercontent.com/"


# --- helpers ------------------------------------------------------------------------------------------


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def write_manifest(path: Path, entries: list[dict], capabilities: dict | None = None) -> Path:
    lines = ["[capabilities]"]
    for k, v in (capabilities or {}).items():
        lines.append(f"{k} = {_toml_value(v)}")
    for e in entries:
        lines.append("\n[[weights]]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in e.items() if v is not None]
    path.write_text("\n".join(lines) + "\n")
    return path


def real_manifest() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads((REPO / "faceedit" / "weights" / "manifest.toml").read_text())


def real_entry(name: str, **override: object) -> dict:
    entry = next(e for e in real_manifest()["weights"] if e["name"] == name)
    return {**entry, **override}


def blob_entry(name: str, data: bytes, **kw: object) -> dict:
    return {
        "name": name,
        "description": "test file",
        "loader": "faceedit.weights:load_checkpoint",
        "repo_id": "org/repo",
        "filename": f"{name}.pt",
        "revision": "main",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "source_url": "https://example.org/" + name,
        **kw,
    }


def torch_bytes(obj: object, **kw: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, **kw)
    return buf.getvalue()


@pytest.fixture()
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A local Hub on 127.0.0.1, an empty weights cache, and URL sources mirrored to the same server."""
    import huggingface_hub.constants

    server = HubServer()
    url = server.start()
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("FACEEDIT_WEIGHTS_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FACEEDIT_URL_MIRROR", f"{RAW}={url}/raw/")
    weights.clear_model_cache()
    yield server
    weights.clear_model_cache()
    server.stop()


@pytest.fixture()
def use_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def use(entries: list[dict], capabilities: dict | None = None) -> None:
        path = write_manifest(tmp_path / f"manifest{time.monotonic_ns()}.toml", entries, capabilities)
        monkeypatch.setenv("FACEEDIT_MANIFEST", str(path))

    return use


def point_at_dead_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hub and URL sources at a port nothing listens on (a machine without network)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("HF_ENDPOINT", dead)
    monkeypatch.setenv("FACEEDIT_URL_MIRROR", f"{RAW}={dead}/raw/")


def gets(server: HubServer) -> list[tuple[str, str, str | None]]:
    return [r for r in server.requests if r[0] == "GET"]


# --- the real manifest -------------------------------------------------------------------------------


def test_real_manifest_is_complete_and_honest(data_dir: Path) -> None:
    specs = weights.registry()
    for needed in (
        "stylegan2.ffhq",
        "psp.ffhq_encode",
        "psp.celebs_seg_to_face",
        "e4e.ffhq_encode",
        "bisenet.celebamask_hq",
        "e4e.direction.smile",
        "e4e.direction.age",
        "e4e.direction.pose",
        "ganspace.ffhq_pca",
        "interfacegan.stylegan2_ffhq_w.Smiling",
    ):
        assert needed in specs
    assert sum(n.startswith("interfacegan.stylegan2_ffhq_w.") for n in specs) == 39
    for spec in specs.values():
        module, _, func = spec.loader.partition(":")
        assert module.startswith("faceedit.") and func, spec.name
        assert spec.description and spec.licence and spec.paper and spec.source_url, spec.name
        assert spec.downloadable or spec.kind == "folder" or spec.filename, spec.name
        # an unknown hash or size is declared unverified, never left silent
        if spec.sha256 is None:
            assert "sha256" in spec.unverified and not spec.verified, spec.name
        else:
            assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0, spec.name
        if spec.size is None:
            assert "size" in spec.unverified and not spec.verified, spec.name
        if spec.repo_id and spec.revision and len(spec.revision) != 40:
            assert "revision" in spec.unverified, spec.name
    # every capability requirement names registry entries
    import fnmatch

    caps = weights.capability_requirements()
    assert set(caps) == set(weights.CAPABILITIES)
    for groups in caps.values():
        for group in groups:
            for pattern in group:
                assert fnmatch.filter(specs, pattern), pattern
    # every row says which operations it serves; [capabilities] (kept for `weights list`) agrees with them
    assert all(set(s.operations) <= set(weights.OPERATIONS) for s in specs.values())
    for cap, groups in caps.items():
        serving = set(weights.entries_serving(cap))
        for group in groups:
            for pattern in group:
                assert set(fnmatch.filter(specs, pattern)) <= serving, (cap, pattern)
    assert weights.entries_serving("parse") == ["bisenet.celebamask_hq"]
    assert set(weights.entries_serving("swap")) == {"gu2019.mask_guided"}
    assert {"stylegan2.ffhq", "e4e.ffhq_encode", "psp.ffhq_encode"} == set(weights.entries_serving("random"))
    assert set(weights.entries_serving("face_swap")) == {
        "ghost.g_unet_1block", "ghost.g_unet_2blocks", "ghost.g_unet_3blocks", "ghost.g_unet_2blocks_safetensors",
        "ghost.arcface_backbone", "ghost.arcface_backbone_safetensors",
    }
    assert "vgg19.imagenet" not in weights.entries_serving("swap")
    with pytest.raises(InvalidArgumentError, match="unknown operation 'paint'.*face_swap"):
        weights.entries_serving("paint")
    # direction rows that are sliders name a group and a W+ layer range
    sliders = [s for s in specs.values() if s.slider]
    assert len(sliders) == 42 and all(s.kind == "direction" and s.group and s.layers == (0, 18) for s in sliders)
    # the direction entries carry exactly the recorded hashes of the published files
    rows = {r["path"]: r for r in csv.DictReader(open(data_dir / "public-weights" / "SHA256SUMS.tsv"), delimiter="\t")}
    recorded = {Path(p).name: r for p, r in rows.items()}
    for spec in specs.values():
        if spec.kind == "direction":
            assert spec.url and spec.url.startswith(RAW), spec.name
            assert recorded[spec.filename]["sha256"] == spec.sha256 and int(recorded[spec.filename]["bytes"]) == spec.size


def test_manifest_rows_with_unknown_operations_or_bad_layers_are_refused(use_manifest) -> None:
    use_manifest([blob_entry("a", b"x", operations=["parse", "paint"])])
    with pytest.raises(WeightsVerificationError, match="'a' has unknown operations \\['paint'\\]"):
        weights.registry()
    use_manifest([blob_entry("b", b"x", kind="direction", slider="b", layers=[8, 4])])
    with pytest.raises(WeightsVerificationError, match=r"layers \(8, 4\) that are not \[start, stop\)"):
        weights.registry()
    use_manifest([blob_entry("c", b"x", operations=["swap"])])
    assert weights.entries_serving("swap") == ["c"] and weights.entries_serving("parse") == []


def test_unknown_name_is_a_clear_error() -> None:
    with pytest.raises(InvalidArgumentError, match="not in the weights registry.*e4e.direction.smile"):
        weights.spec_for("smile")


# --- Hub download ------------------------------------------------------------------------------------


def test_hub_download_then_cache_hit(hub: HubServer, use_manifest) -> None:
    data = np.random.default_rng(0).bytes(300_000)
    hub.add("org/repo", "blob.pt", data)
    use_manifest([blob_entry("blob", data, filename="blob.pt")])
    assert weights.local_path("blob") is None
    path = weights.fetch("blob", progress=False)
    assert path.read_bytes() == data
    assert [r[0] for r in hub.requests] == ["HEAD", "GET"]
    assert hub.requests[0][1] == "/org/repo/resolve/main/blob.pt"
    assert str(weights.weights_dir()) in str(path)
    # cache hit: no network at all, even with the verification record gone (the file is re-hashed)
    assert weights.fetch("blob") == path
    (weights.weights_dir() / "verified" / "blob.json").unlink()
    assert weights.local_path("blob") == path
    assert len(hub.requests) == 2


def test_hub_download_resumes_after_interrupted_transfer(hub: HubServer, use_manifest, monkeypatch) -> None:
    import huggingface_hub.constants

    # chunks smaller than the cut, so that the received part is on disk when the connection drops
    monkeypatch.setattr(huggingface_hub.constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)
    data = np.random.default_rng(1).bytes(1_500_000)
    hub.add("org/repo", "big.pt", data)
    hub.interrupt_next("/org/repo/resolve/main/big.pt", after=600_000)
    use_manifest([blob_entry("big", data, filename="big.pt")])
    path = weights.fetch("big", progress=False)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    ranges = [r[2] for r in gets(hub)]
    assert ranges[0] is None and len(ranges) == 2
    assert ranges[1] is not None and 0 < int(ranges[1][len("bytes=") :].split("-")[0]) <= 600_000


def test_url_download_resumes_after_interrupted_transfer(hub: HubServer, use_manifest) -> None:
    data = np.random.default_rng(2).bytes(2_500_000)
    hub.raw["org/repo/abc/file.npy"] = data
    hub.interrupt_next("/raw/org/repo/abc/file.npy", after=1_000_000)
    entry = blob_entry("u", data, repo_id=None, revision=None, url=f"{RAW}org/repo/abc/file.npy", filename="file.npy")
    use_manifest([entry])
    path = weights.fetch("u", progress=False)
    assert path.read_bytes() == data
    ranges = [r[2] for r in gets(hub)]
    assert ranges[0] is None and ranges[1] is not None and int(ranges[1][6:].split("-")[0]) > 0


def test_checksum_mismatch_is_refused(hub: HubServer, use_manifest) -> None:
    served = b"not the published file" * 1000
    expected = hashlib.sha256(b"the published file").hexdigest()
    hub.add("org/repo", "ckpt.pt", served)
    hub.raw["x/ckpt.pt"] = served
    use_manifest(
        [
            blob_entry("ckpt", served, filename="ckpt.pt", sha256=expected),
            blob_entry("ckpt_url", served, repo_id=None, url=f"{RAW}x/ckpt.pt", filename="ckpt.pt", sha256=expected),
        ]
    )
    actual = hashlib.sha256(served).hexdigest()
    for name in ("ckpt", "ckpt_url"):
        with pytest.raises(WeightsVerificationError) as info:
            weights.fetch(name, progress=False)
        msg = str(info.value)
        assert "ckpt.pt" in msg and expected in msg and actual in msg and "mismatch" in msg
        assert weights.local_path(name) is None
        with pytest.raises(WeightsMissingError):
            weights.load_verified(name)
    assert not list((weights.weights_dir() / "url").rglob("ckpt.pt*"))  # the bad URL download was discarded
    blobs = [p for p in (weights.weights_dir() / "hub").rglob("*") if p.is_file() and "blobs" in p.parts]
    assert blobs == []  # and the bad Hub file: blob and snapshot link
    assert [r.status for r in weights.verify("ckpt")] == ["missing"]


def test_size_mismatch_is_refused(hub: HubServer, use_manifest) -> None:
    data = b"abc" * 100
    hub.add("org/repo", "s.pt", data)
    use_manifest([blob_entry("s", data, filename="s.pt", size=len(data) + 1)])
    with pytest.raises(WeightsVerificationError, match="s.pt has 300 bytes, the registry expects 301"):
        weights.fetch("s", progress=False)
    assert weights.local_path("s") is None


def test_404_is_reported_clearly(hub: HubServer, use_manifest) -> None:
    hub.add("org/repo", "present.pt", b"x")
    use_manifest(
        [
            blob_entry("nofile", b"x", filename="absent.pt"),
            blob_entry("norepo", b"x", repo_id="org/gone", filename="present.pt"),
            blob_entry("nourl", b"x", repo_id=None, url=f"{RAW}org/gone/file.pt", filename="file.pt"),
        ]
    )
    with pytest.raises(WeightsMissingError, match=r"org/repo@main:absent.pt was not found on the Hub \(HTTP 404\)"):
        weights.fetch("nofile", progress=False)
    with pytest.raises(WeightsMissingError, match=r"org/gone@main:present.pt was not found on the Hub"):
        weights.fetch("norepo", progress=False)
    with pytest.raises(WeightsMissingError, match=r"HTTP 404"):
        weights.fetch("nourl", progress=False)


def test_offline_mode_fails_fast_and_clearly(hub: HubServer, use_manifest, monkeypatch: pytest.MonkeyPatch) -> None:
    hub.add("org/repo", "o.pt", b"data")
    hub.raw["o/o.pt"] = b"data"
    use_manifest(
        [
            blob_entry("o", b"data", filename="o.pt"),
            blob_entry("ou", b"data", repo_id=None, url=f"{RAW}o/o.pt", filename="o.pt"),
        ]
    )
    hub.add("org/repo", "cached.pt", b"cached")
    use_manifest(
        [
            blob_entry("o", b"data", filename="o.pt"),
            blob_entry("ou", b"data", repo_id=None, url=f"{RAW}o/o.pt", filename="o.pt"),
            blob_entry("cached", b"cached", filename="cached.pt"),
        ]
    )
    cached = weights.fetch("cached", progress=False)
    hub.requests.clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert weights.fetch("cached") == cached  # what is cached keeps working offline
    for name in ("o", "ou"):
        t0 = time.perf_counter()
        with pytest.raises(OfflineError, match="HF_HUB_OFFLINE=1.*weights import PATH --name"):
            weights.fetch(name)
        assert time.perf_counter() - t0 < 0.5
    assert hub.requests == []
    # no network at all: nothing listens on the endpoint
    monkeypatch.delenv("HF_HUB_OFFLINE")
    point_at_dead_server(monkeypatch)
    for name in ("o", "ou"):
        t0 = time.perf_counter()
        with pytest.raises(OfflineError, match="cannot be reached"):
            weights.fetch(name, progress=False)
        assert time.perf_counter() - t0 < 3.0


# --- safe loading -------------------------------------------------------------------------------------


class _RunsCode:
    """Unpickling this calls ``open(path, 'w')``: a visible side effect."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_malicious_pickle_is_refused_and_its_code_never_runs(hub: HubServer, use_manifest, tmp_path: Path) -> None:
    side = tmp_path / "pwned"
    evil_zip = torch_bytes({"state_dict": {"w": torch.zeros(2)}, "opts": _RunsCode(side)})
    evil_raw = pickle.dumps({"w": _RunsCode(side)}, protocol=2)
    hub.add("org/repo", "evil.pt", evil_zip)
    use_manifest(
        [
            blob_entry("evil", evil_zip, filename="evil.pt", loader="faceedit.models.bisenet:load_bisenet"),
            blob_entry("evil_raw", evil_raw, filename="evil_raw.pt"),
        ]
    )
    weights.fetch("evil", progress=False)  # the download itself is fine: the hash matches
    with pytest.raises(WeightsVerificationError, match=r"refused to load evil.pt.*could run code.*\bopen\b"):
        weights.load_model("evil", device="cpu")
    (tmp_path / "evil_raw.pt").write_bytes(evil_raw)
    weights.import_file(tmp_path / "evil_raw.pt", name="evil_raw")
    with pytest.raises(WeightsVerificationError, match="evil_raw.pt"):
        weights.load_verified("evil_raw")
    with pytest.raises(WeightsVerificationError):
        weights.load_checkpoint(tmp_path / "evil_raw.pt")
    assert not side.exists()
    # the files really are dangerous: an unrestricted unpickler runs the code
    pickle.loads(evil_raw)
    assert side.exists()


def test_argparse_namespace_is_not_allowed(tmp_path: Path) -> None:
    """No published file holds one (pSp/e4e store ``vars(opts)``), so it stays refused."""
    buf = torch_bytes({"g_ema": {"w": torch.zeros(1)}, "args": argparse.Namespace(size=1024)})
    path = tmp_path / "train.pt"
    path.write_bytes(buf)
    with pytest.raises(WeightsVerificationError, match="argparse.Namespace"):
        weights.load_checkpoint(path)
    assert weights.EXTRA_SAFE_GLOBALS == ()


def _psp_like() -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "state_dict": OrderedDict(
            [
                ("encoder.input_layer.0.weight", torch.randn(4, 3, 3, 3, generator=g)),
                ("encoder.styles.0.linear.bias", torch.randn(8, generator=g)),
                ("decoder.noises.noise_0", torch.randn(1, 1, 4, 4, generator=g)),
                ("decoder.conv1.activate.bias", torch.randn(8, generator=g)),
            ]
        ),
        "opts": {"encoder_type": "GradualStyleEncoder", "input_nc": 3, "label_nc": 0, "output_size": 1024,
                 "start_from_latent_avg": True, "checkpoint_path": None, "progressive_steps": [0, 2000],
                 "lpips_lambda": 0.8, "resize_factors": None},
        "latent_avg": torch.randn(18, 8, generator=g),
        # e4e training extras: optimizer state with int keys, a step count, the best loss
        "global_step": 300000,
        "best_val_loss": 0.123,
        "optimizer": {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.ones(2)}},
                      "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "params": [0]}]},
    }


def _assert_same(a: object, b: object) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    else:
        assert a == b and type(a) is type(b)


@pytest.mark.parametrize(
    "fmt",
    ["psp_e4e", "rosinality", "legacy_state_dict", "l2m"],
)
def test_published_formats_round_trip_through_the_safetensors_copy(
    fmt: str, hub: HubServer, use_manifest, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = torch.Generator().manual_seed(1)
    obj = {
        "psp_e4e": _psp_like(),
        "rosinality": {"g_ema": OrderedDict([("style.1.weight", torch.randn(8, 8, generator=g))]),
                       "latent_avg": torch.randn(8, generator=g)},
        "legacy_state_dict": OrderedDict([("model.0.weight", torch.randn(4, 3, 3, 3, generator=g)),
                                          ("model.1.running_mean", torch.zeros(4))]),
        "l2m": {"generator": {"a.weight": torch.randn(2, 2, generator=g)}, "style_encoder": {"b": torch.ones(3)},
                "fan": {"c": torch.zeros(1)}, "vgg": {"0.weight": torch.ones(1)}},
    }[fmt]
    data = torch_bytes(obj, _use_new_zipfile_serialization=(fmt != "legacy_state_dict"))
    hub.add("org/repo", f"{fmt}.pt", data)
    use_manifest([blob_entry(fmt, data, filename=f"{fmt}.pt")])
    weights.fetch(fmt, progress=False)
    first = weights.load_verified(fmt)
    _assert_same(obj, first)
    converted = list((weights.weights_dir() / "converted" / fmt).glob("*.safetensors"))
    assert len(converted) == 1 and converted[0].with_suffix(".json").is_file()

    def no_pickle(path: Path) -> None:
        raise AssertionError("the pickle file was read again")

    monkeypatch.setattr(weights.serialisation, "_torch_load", no_pickle)
    second = weights.load_verified(fmt)
    _assert_same(obj, second)


def _bisenet_bytes() -> bytes:
    from faceedit.models.bisenet import BiSeNet

    torch.manual_seed(0)
    return torch_bytes(BiSeNet().state_dict())


def test_bisenet_checkpoint_loads_through_the_registry(hub: HubServer, use_manifest, monkeypatch) -> None:
    from faceedit.models.bisenet import BiSeNet
    from faceedit.parsing.bisenet import BiSeNetParser

    data = _bisenet_bytes()
    hub.add("vivym/face-parsing-bisenet", "79999_iter.pth", data)
    entry = real_entry("bisenet.celebamask_hq", sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    use_manifest([entry], {"parse": [["bisenet.celebamask_hq"]]})
    assert weights.capabilities()["parse"] is False
    with pytest.raises(WeightsMissingError, match="weights fetch bisenet.celebamask_hq"):
        BiSeNetParser(device="cpu")
    weights.fetch("bisenet.celebamask_hq", progress=False)
    assert weights.capabilities()["parse"] is True
    net = weights.load_model("bisenet.celebamask_hq", device="cpu")
    assert type(net) is BiSeNet and not net.training
    assert not any(p.requires_grad for p in net.parameters())
    assert weights.load_model("bisenet.celebamask_hq", device="cpu") is net  # loaded once
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        ref = net.parse_logits(x)
    weights.clear_model_cache()
    monkeypatch.setattr(weights.serialisation, "_torch_load", lambda p: (_ for _ in ()).throw(AssertionError("pickle read")))
    net2 = weights.load_model("bisenet.celebamask_hq", device="cpu")  # from the safetensors copy
    with torch.inference_mode():
        torch.testing.assert_close(net2.parse_logits(x), ref, rtol=0, atol=0)
    assert BiSeNetParser(device="cpu").model is net2  # the parser shares the registry's model
    from faceedit.parsing import get_parser

    assert get_parser("auto").name == "bisenet"  # the app's choice once the checkpoint is present


def test_rosinality_generator_loads_through_the_registry(hub: HubServer, use_manifest) -> None:
    """``{'g_ema', 'latent_avg'}`` as convert_weight.py writes it (a 64 px, channel multiplier 1 generator)."""
    from faceedit.models.stylegan2 import Generator

    torch.manual_seed(0)
    g = Generator(64, channel_multiplier=1)
    data = torch_bytes({"g_ema": g.state_dict(), "latent_avg": torch.randn(512)})
    entry = real_entry("stylegan2.ffhq", sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    hub.add(entry["repo_id"], entry["filename"], data)
    use_manifest([entry], {"random": [["stylegan2.ffhq"]]})
    assert weights.capabilities()["random"] is False
    weights.fetch("stylegan2.ffhq", progress=False)
    assert weights.capabilities()["random"] is True
    net = weights.load_model("stylegan2.ffhq", device="cpu")
    assert type(net) is Generator and net.size == 64 and not net.training
    for name, t in g.state_dict().items():
        assert torch.equal(net.state_dict()[name], t), name


@pytest.mark.parametrize("name", ["psp.ffhq_encode", "e4e.ffhq_encode", "stylegan2.ffhq"])
def test_wrong_layout_fails_loudly_through_the_registry(name: str, hub: HubServer, use_manifest, tmp_path) -> None:
    """A file in the published container format whose tensors do not fit the network: a typed error."""
    from faceedit.errors import CheckpointLayoutError

    obj = _psp_like() if name != "stylegan2.ffhq" else {"g_ema": {"x": torch.zeros(1)}, "latent_avg": torch.zeros(512)}
    path = tmp_path / "file.pt"
    torch.save(obj, path)
    data = path.read_bytes()
    use_manifest([real_entry(name, sha256=hashlib.sha256(data).hexdigest(), size=len(data))])
    weights.import_file(path, name=name)
    with pytest.raises(CheckpointLayoutError):
        weights.load_model(name, device="cpu")


def test_missing_loader_module_is_a_clear_error(hub: HubServer, use_manifest, tmp_path) -> None:
    data = torch_bytes({"w": torch.zeros(1)})
    (tmp_path / "m.pt").write_bytes(data)
    use_manifest([blob_entry("m", data, filename="m.pt", loader="faceedit.models.not_written_yet:load")])
    assert weights.registry()["m"].loader.endswith(":load")  # the registry itself is fine
    weights.import_file(tmp_path / "m.pt", name="m")
    with pytest.raises(UnsupportedEditError, match="faceedit.models.not_written_yet.*not part of this installation"):
        weights.load_model("m", device="cpu")


# --- the real published direction files ---------------------------------------------------------------


def test_real_direction_files_load_through_the_registry(hub: HubServer, data_dir: Path) -> None:
    """Served at their GitHub raw paths (mirrored to the local server), checked against the recorded sha256."""
    pub = data_dir / "public-weights"
    owners = {"omertov/encoder4editing": "omertov_encoder4editing", "genforce/interfacegan": "genforce_interfacegan"}
    specs = {n: s for n, s in weights.registry().items() if s.kind == "direction"}
    assert len(specs) == 43
    for spec in specs.values():
        owner, repo, _commit, rest = spec.url[len(RAW) :].split("/", 3)
        hub.raw[spec.url[len(RAW) :]] = (pub / owners[f"{owner}/{repo}"] / rest).read_bytes()
    for name in specs:
        weights.fetch(name, progress=False)
    assert all(r.status == "ok" for r in weights.verify()  if r.name in specs)
    smile, pose = weights.load_verified("e4e.direction.smile"), weights.load_verified("e4e.direction.pose")
    assert isinstance(smile, torch.Tensor) and smile.shape == (1, 512)
    assert pose.shape == (1, 18, 512)
    pca = weights.load_verified("ganspace.ffhq_pca")
    assert {k: tuple(v.shape) for k, v in pca.items()} == {"mean": (1, 512), "comp": (80, 1, 512), "std": (80,)}
    b = weights.load_verified("interfacegan.stylegan2_ffhq_w.Smiling")
    assert isinstance(b, np.ndarray) and b.shape == (1, 512) and b.dtype == np.float32
    assert abs(np.linalg.norm(b) - 1) < 1e-4
    # the loaders named in the manifest build the directions library's objects
    from faceedit.directions import Direction, DirectionLibrary, GanspacePCA

    smile_dir = weights.load_model("e4e.direction.smile")
    assert isinstance(smile_dir, Direction) and smile_dir.vector.shape == (1, 512)
    assert isinstance(weights.load_model("interfacegan.stylegan2_ffhq_w.Eyeglasses"), Direction)
    assert isinstance(weights.load_model("ganspace.ffhq_pca"), GanspacePCA)
    lib = DirectionLibrary.from_registry()  # the directions module's own view of the registry
    assert {"smile", "age", "pose", "eyeglasses"} <= set(lib.names())


# --- import and capabilities ---------------------------------------------------------------------------


def test_import_checks_the_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.setenv("FACEEDIT_WEIGHTS_DIR", str(tmp_path / "cache"))
    src = data_dir / "public-weights" / "omertov_encoder4editing" / "editings" / "interfacegan_directions" / "age.pt"
    dest = weights.import_file(src)  # found by its sha256
    assert weights.local_path("e4e.direction.age") == dest and dest.read_bytes() == src.read_bytes()
    wrong = tmp_path / "smile.pt"
    wrong.write_bytes(src.read_bytes())
    with pytest.raises(WeightsVerificationError, match="e4e.direction.smile.*size|checksum"):
        weights.import_file(wrong, name="e4e.direction.smile")
    assert weights.import_file(wrong) == dest  # identified by content, whatever its name
    wrong.write_bytes(b"junk" * 702)  # the right size, the wrong bytes
    with pytest.raises(WeightsVerificationError, match="checksum mismatch.*expected sha256 817a7e73"):
        weights.import_file(wrong)  # found by file name, then refused by hash
    assert weights.local_path("e4e.direction.smile") is None
    with pytest.raises(WeightsMissingError, match="does not exist"):
        weights.import_file(tmp_path / "nope.pt")


def test_capabilities_follow_the_present_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.setenv("FACEEDIT_WEIGHTS_DIR", str(tmp_path / "cache"))
    assert weights.capabilities() == dict.fromkeys(weights.CAPABILITIES, False)
    # the mask-guided folder downloaded by hand: swap and mask editing become available
    folder = tmp_path / "pretrained"
    folder.mkdir()
    for f in weights.spec_for("gu2019.mask_guided").files[:-1]:
        (folder / f).write_bytes(b"x")
    with pytest.raises(InvalidArgumentError, match="latest_net_G.pth"):
        weights.import_file(folder, name="gu2019.mask_guided")
    (folder / weights.spec_for("gu2019.mask_guided").files[-1]).write_bytes(b"x")
    weights.import_file(folder)
    caps = weights.capabilities()
    assert caps["swap"] and caps["mask_edit"] and not caps["parse"] and not caps["attributes"]
    # directions alone do not make attribute editing possible: an encoder is needed too
    todo = weights.entries_for("attributes")
    assert todo[0] == "e4e.ffhq_encode" and len(todo) == 1 + 42  # an encoder and every direction file
    weights.import_file(data_dir / "public-weights/omertov_encoder4editing/editings/interfacegan_directions/smile.pt")
    assert weights.capabilities()["attributes"] is False
    assert weights.entries_for("attributes") == ["e4e.ffhq_encode"]
    assert weights.entries_for("parse") == ["bisenet.celebamask_hq"]
    assert weights.entries_for("swap") == []  # present; mask_edit likewise
    with pytest.raises(InvalidArgumentError, match="one of: parse, invert"):
        weights.entries_for("painting")


# --- CLI ----------------------------------------------------------------------------------------------


def run_cli(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    from faceedit.commands import weights as cmd

    parser = argparse.ArgumentParser()
    cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        rc = int(args.func(args) or 0)
    except Exception as err:  # noqa: BLE001 - the real CLI prints FaceEditError as one line
        from faceedit.errors import FaceEditError

        assert isinstance(err, FaceEditError)
        rc = 2
        print(f"error: {err}")
    return rc, capsys.readouterr().out


def test_cli_list_fetch_verify_import(hub: HubServer, use_manifest, tmp_path: Path, capsys) -> None:
    data = b"weights" * 1000
    hub.add("org/repo", "a.pt", data)
    use_manifest([blob_entry("a", data, filename="a.pt"), blob_entry("b", b"other", filename="b.pt")],
                 {"parse": [["a"]]})
    rc, out = run_cli(["weights", "list"], capsys)
    assert rc == 0 and "a " in out and "missing" in out and "parse=no" in out
    rc, out = run_cli(["weights", "fetch", "--for", "parse", "--quiet"], capsys)  # what parsing needs
    assert rc == 0 and "a:" in out
    rc, out = run_cli(["weights", "list"], capsys)
    assert "present" in out and "parse=yes" in out
    rc, out = run_cli(["weights", "verify"], capsys)
    assert rc == 0 and "a: ok: sha256 " + hashlib.sha256(data).hexdigest() in out
    rc, out = run_cli(["weights", "fetch", "b", "--quiet"], capsys)
    assert rc == 2 and "not found on the Hub" in out
    other = tmp_path / "b.pt"
    other.write_bytes(b"other")
    rc, out = run_cli(["weights", "import", str(other)], capsys)
    assert rc == 0 and "imported" in out
    rc, out = run_cli(["weights", "fetch", "nosuch"], capsys)
    assert rc == 2 and "not in the weights registry" in out
