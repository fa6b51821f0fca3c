"""What an input costs to receive: peak memory and CPU against the bytes that carried it.

The amplification tests (docs/security.md, "What a peer can cost") use these helpers. They
never compare a time with an absolute number: CPU cost is measured at two sizes in one run and
the cost per byte at the large size is compared with the cost per byte at the small one, so a
cost that grows faster than linearly fails whatever the machine's speed.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Cost", "assert_linear_cpu", "cpu_seconds", "peak_memory", "peak_ratio"]


@dataclass(frozen=True)
class Cost:
    """One measurement: ``size`` bytes received, ``value`` spent (bytes or seconds)."""

    size: int
    value: float

    @property
    def per_byte(self) -> float:
        return self.value / self.size


def peak_memory(fn: Callable[[], Any]) -> int:
    """Peak bytes Python allocated while ``fn()`` ran, what it returned kept alive until the
    peak is read (tracemalloc: Python objects, whichever code made them)."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
        del result
    finally:
        tracemalloc.stop()
    return peak


def peak_ratio(fn: Callable[[], Any], size: int) -> float:
    """Peak memory of ``fn()`` per byte of an input of ``size`` bytes."""
    return peak_memory(fn) / size


def cpu_seconds(fn: Callable[[], Any], *, repeat: int = 3, min_time: float = 0.02) -> float:
    """The smallest CPU time (this process) of one ``fn()`` call over ``repeat`` tries; calls
    are batched until a try lasts ``min_time`` so the clock's grain does not matter."""
    gc.collect()
    calls = 1
    while True:
        start = time.process_time()
        for _ in range(calls):
            fn()
        spent = time.process_time() - start
        if spent >= min_time or calls >= 1 << 16:
            break
        calls *= 4
    best = spent / calls
    for _ in range(repeat - 1):
        start = time.process_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.process_time() - start) / calls)
    return best


def assert_linear_cpu(
    make: Callable[[int], tuple[Callable[[], Any], int]],
    small: int,
    large: int,
    *,
    slack: float = 5.0,
) -> tuple[Cost, Cost]:
    """Measure ``make(n)`` -> (run, bytes) at two sizes; fail if CPU per byte grows by more
    than ``slack`` from the small to the large one (linear cost keeps it near 1; a quadratic
    one multiplies it by ``large / small``, so pick sizes at least 16x apart). The slack is
    wide on purpose: caches and a busy machine move the ratio of a linear cost to 2 or 3,
    and a test that fails on noise would be read as noise when it fails for real."""
    assert large >= 16 * small, "sizes too close to tell linear from quadratic"
    costs = []
    for n in (small, large):
        run, size = make(n)
        costs.append(Cost(size, cpu_seconds(run)))
    low, high = costs
    growth = high.per_byte / low.per_byte
    assert growth < slack, (
        f"CPU per byte grew {growth:.1f}x from {low.size} to {high.size} bytes "
        f"({low.value * 1e3:.2f} ms -> {high.value * 1e3:.2f} ms): not linear"
    )
    return low, high
