"""The runtime tests use the shared ``run`` fixture (tests/conftest.py) and helpers."""

from __future__ import annotations

from ..support import eventually

__all__ = ["eventually"]
