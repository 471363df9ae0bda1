"""Shared fixtures: real photos from packages, the committed test data (tests/data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
#: Data the tests read, committed with them (official layouts, small public files): see tests/data/README.md.
DATA = REPO / "tests" / "data"


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's public-domain astronaut photo (512x512 RGB uint8)."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``tests/data``: ``official-layouts/`` (key/shape lists) and ``public-weights/`` (small published files).

    Tests read only this folder, so they pass in any clone of the repository.
    """
    return DATA


@pytest.fixture(scope="session")
def shared_dir(data_dir: Path) -> Path:
    """Old name of :func:`data_dir` (same layout as the project's reference folder; nothing outside the clone)."""
    return data_dir


# --- foundation: MediaPipe results computed once per test session ---------------------------------


@pytest.fixture(scope="session")
def astronaut_faces(astronaut):
    """``detect_faces`` on the astronaut photo (one face)."""
    from faceedit.landmarks import detect_faces

    return detect_faces(astronaut)


@pytest.fixture(scope="session")
def two_faces_photo(astronaut) -> np.ndarray:
    """Two faces side by side: the astronaut and her mirror image (512x1024)."""
    return np.ascontiguousarray(np.concatenate([astronaut, astronaut[:, ::-1]], axis=1))


@pytest.fixture(scope="session")
def app_url():
    """The web app (lite engine) served on 127.0.0.1 for the app and browser tests; one per test run."""
    from helpers import served

    with served(engine="lite") as url:
        yield url


@pytest.fixture
def one_thread():
    """Torch on one thread for the test: tiny networks run many small ops, and one thread runs them faster
    (no OpenMP wake-up costs) without fighting other processes for cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
