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
