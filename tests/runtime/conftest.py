"""Helpers for tests over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest


@pytest.fixture
def run() -> Callable[[Callable[[], Awaitable[Any]]], Any]:
    """Run an async test body with a hard bound so nothing can hang the suite."""

    def runner(body: Callable[[], Awaitable[Any]], limit: float = 20.0) -> Any:
        async def bounded() -> Any:
            async with asyncio.timeout(limit):
                return await body()

        return asyncio.run(bounded())

    return runner


async def eventually(predicate: Callable[[], bool], limit: float = 5.0) -> None:
    """Collect garbage and yield to the loop until ``predicate()`` holds (bounded)."""
    import gc

    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        gc.collect()
        await asyncio.sleep(0.01)
