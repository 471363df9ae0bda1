"""Packaging: ``pip install .`` and ``pip install -e .`` give a working ``faceedit`` command (offline, in a fresh venv).

The venv is created without the test environment's packages; the checkout is installed with ``--no-deps
--no-build-isolation --no-index`` and the test environment's site-packages are made visible through a ``.pth``
file, so no package is downloaded and the installed ``faceedit`` (not the checkout on ``sys.path``) runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from faceedit import __version__

REPO = Path(__file__).resolve().parents[1]


def _copy_checkout(dest: Path) -> Path:
    """The files a build needs (a copy, so building never writes into the checkout)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(REPO / "faceedit", dest / "faceedit", ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, dest / name)
    return dest


def _fresh_venv(path: Path) -> Path:
    """A venv without pip or packages; the test environment's site-packages reachable through a .pth file."""
    venv.EnvBuilder(with_pip=False, system_site_packages=False).create(path)
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    host = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib) / "host-env.pth").write_text("\n".join(sorted(host)) + "\n")
    return python


def _run(args: list, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.mark.parametrize("editable", [False, True], ids=["install", "editable"])
def test_pip_install_gives_a_working_faceedit_command(tmp_path: Path, editable: bool) -> None:
    src = _copy_checkout(tmp_path / "src")
    python = _fresh_venv(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV"))}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", FACEEDIT_WEIGHTS_DIR=str(tmp_path / "cache"))
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-build-isolation"]
    _run([*pip, *(["-e"] if editable else []), src], tmp_path, env)
    faceedit = tmp_path / "venv" / "bin" / "faceedit"
    assert faceedit.is_file()  # the console script is on the venv's PATH
    assert _run([faceedit, "--version"], tmp_path, env).strip() == f"faceedit {__version__}"
    assert _run([python, "-m", "faceedit", "--version"], tmp_path, env).strip() == f"faceedit {__version__}"
    usage = _run([faceedit, "--help"], tmp_path, env)
    for command in ("parse", "edit", "swap", "random", "weights"):
        assert command in usage
    # the installed package, with its manifest as package data (not the checkout's files)
    where = _run([python, "-c", "import faceedit.weights as w; print(w.__file__); print(w.DEFAULT_MANIFEST)"], tmp_path, env)
    module, manifest = where.split()
    expected_root = src if editable else tmp_path / "venv"
    assert Path(module).is_relative_to(expected_root) and Path(manifest).is_file(), where
    vocab = _run([python, "-c", "import faceedit.models.clip_tokenizer as t; print(t.DEFAULT_VOCAB.is_file(), "
                          "t.DEFAULT_VOCAB)"], tmp_path, env).split()
    assert vocab[0] == "True" and Path(vocab[1]).is_relative_to(expected_root), "CLIP's vocabulary is package data"
    assert "stylise" in usage
    listing = _run([faceedit, "weights", "list"], tmp_path, env)
    assert "bisenet.celebamask_hq" in listing and "e4e.direction.smile" in listing


def test_pyproject_declares_the_runtime_requirements() -> None:
    """pyproject.toml's dependencies are requirements.txt's, MediaPipe aside (installed with --no-deps)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    def key(req: str) -> str:
        return re.sub(r"\s+", "", req.split("#")[0]).replace('"', "'").lower()

    declared = {key(d) for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]}
    listed = {key(line) for line in (REPO / "requirements.txt").read_text().splitlines() if key(line)}
    assert declared == listed
    assert not any(d.startswith("mediapipe") for d in declared)
    assert "--no-deps mediapipe==" in (REPO / "scripts" / "install.sh").read_text()
