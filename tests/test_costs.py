"""The cost helpers can fail: a quadratic cost is caught, a linear one passes."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from .costs import assert_linear_cpu, peak_ratio


def _int_to_text(digits: int) -> tuple[Callable[[], object], int]:
    value = 7 ** int(digits * 1.18)  # about ``digits`` decimal digits; int -> str is quadratic
    return (lambda: str(value)), digits


def test_quadratic_cost_is_caught() -> None:
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        with pytest.raises(AssertionError, match="not linear"):
            assert_linear_cpu(_int_to_text, 2_000, 64_000)
    finally:
        sys.set_int_max_str_digits(old)


def test_linear_cost_passes() -> None:
    def make(n: int) -> tuple[Callable[[], object], int]:
        data = bytes(n)
        return (lambda: data.count(0)), n

    low, high = assert_linear_cpu(make, 10_000, 1_000_000)
    assert high.value > low.value


def test_peak_ratio_counts_what_is_built() -> None:
    assert 50 < peak_ratio(lambda: [[] for _ in range(10_000)], 10_000) < 100
