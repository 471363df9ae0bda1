"""Timing helpers shared by the benchmark scripts (not a test)."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable


def timings(fn: Callable[[], object], repeat: int, *, warmup: bool = False,
            after: Callable[[], object] | None = None) -> list[float]:
    """Wall-clock seconds of ``repeat`` calls of ``fn`` (after one untimed warm-up call if ``warmup``).

    ``after`` (e.g. an undo) runs untimed after each timed call.
    """
    if warmup:
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        if after is not None:
            after()
    return times


def median_time(fn: Callable[[], object], repeat: int, *, warmup: bool = False,
                after: Callable[[], object] | None = None) -> float:
    """Median seconds per call of ``fn`` over ``repeat`` calls (see :func:`timings`)."""
    return statistics.median(timings(fn, repeat, warmup=warmup, after=after))


def mean_time(fn: Callable[[], object], repeat: int) -> float:
    """Mean seconds per call of ``fn`` over ``repeat`` calls, after one warm-up call."""
    return sum(timings(fn, repeat, warmup=True)) / repeat


def min_wall_cpu(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Minimum wall-clock and minimum process CPU seconds of ``repeat`` calls of ``fn``."""
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus)


def threads_and_repeats(description: str) -> argparse.Namespace:
    """Parse ``--threads`` (default 2) and ``--repeats`` (default 5) and set torch's thread count."""
    import torch

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    return args
