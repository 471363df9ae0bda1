"""Small helpers shared by several test modules (imported as ``helpers``; tests/ is on ``sys.path``)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from faceedit.models.stylegan2 import Generator


class CountingGenerator(Generator):
    """StyleGAN2 that counts its synthesis calls (in the class attribute ``calls``; tests reset it to 0)."""

    calls = 0

    def synthesis(self, w_plus, *args, **kwargs):  # type: ignore[override]
        type(self).calls += 1
        return super().synthesis(w_plus, *args, **kwargs)


def run_in_threads(work: Callable[[int], None], n: int) -> None:
    """Run ``work(0)`` … ``work(n - 1)`` in ``n`` threads at once; wait for all, then re-raise the first error."""
    errors: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            work(i)
        except BaseException as err:  # noqa: BLE001 - handed to the test below
            errors.append(err)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


# --- parity tolerances from the float32-vs-float64 error (tests/measure_parity_error.py) ---------------

import torch  # noqa: E402 - this block is kept apart at the end of the file

#: Parity tolerances are this many times the float32 error measured against a float64 computation.
HEADROOM = 10.0


def float64_error(ours32: torch.Tensor, ours64: torch.Tensor, official32: torch.Tensor) -> dict[str, float]:
    """Largest ``|ours32 - ours64|`` and ``|official32 - ours64|``, absolute and over ``max |ours64|``."""
    exact = ours64.double()
    scale = exact.abs().max().item() or 1.0
    ours = (ours32.double() - exact).abs().max().item()
    official = (official32.double() - exact).abs().max().item()
    return {"scale": scale, "ours": ours, "official": official, "ours_rel": ours / scale, "official_rel": official / scale}


def max_scaled_err(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """``max |actual - expected| / max |expected|``: the error relative to the tensor's magnitude."""
    return ((actual.double() - expected.double()).abs().max() / expected.double().abs().max()).item()
