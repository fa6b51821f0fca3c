"""Fixtures for every test folder."""

from __future__ import annotations

import pytest

from .support import Runner, bounded_run


@pytest.fixture
def run() -> Runner:
    """``run(body, limit=20.0)``: run an async test body, failing it after ``limit`` seconds."""
    return bounded_run
