"""Timing shared by the benchmarks: these machines are shared and noisy, so a figure is a median of runs."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_s(fn: Callable[[], object], repeats: int, warmup: int = 0) -> float:
    """Median seconds of `repeats` calls of `fn`, after `warmup` untimed ones (caches, compiled kernels)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
