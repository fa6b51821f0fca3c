"""Hypothesis settings for the fuzz tests: small and deterministic in CI, long on request.

``HYPOTHESIS_PROFILE=long`` runs every property with 50x the examples and a fresh random seed
each run (still without an example database, so nothing is written to the work tree).
The settings are applied per test (``@fuzz_settings(n)``), never loaded globally, so other
hypothesis tests in the suite keep their own.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings

__all__ = ["PROFILE", "fuzz_settings"]

F = TypeVar("F", bound=Callable[..., Any])

_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "pbtyped-fuzz-ci",
    derandomize=True,  # same examples on every run: a CI failure reproduces locally
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=_HEALTH,
)
settings.register_profile(
    "pbtyped-fuzz-long",
    derandomize=False,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=_HEALTH,
)

PROFILE = "long" if os.environ.get("HYPOTHESIS_PROFILE") == "long" else "ci"
_SCALE = 50 if PROFILE == "long" else 1


def fuzz_settings(max_examples: int) -> Callable[[F], F]:
    """Settings for one property: ``max_examples`` in CI, 50x that with the long profile."""
    parent = settings.get_profile(f"pbtyped-fuzz-{PROFILE}")
    return settings(parent, max_examples=max_examples * _SCALE)  # type: ignore[return-value]
