"""Every fault test runs its async body under a hard time bound: nothing may hang the suite."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

Runner = Callable[..., Any]


@pytest.fixture
def run() -> Runner:
    """``run(body, limit=20.0)``: run an async test body, failing it after ``limit`` seconds."""

    def runner(body: Callable[[], Awaitable[Any]], limit: float = 20.0) -> Any:
        async def bounded() -> Any:
            async with asyncio.timeout(limit):
                return await body()

        return asyncio.run(bounded())

    return runner
