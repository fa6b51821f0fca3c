"""Helpers shared by the async test folders (runtime, cred, faults)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from typing import Any

Runner = Callable[..., Any]


def bounded_run(body: Callable[[], Awaitable[Any]], limit: float = 20.0) -> Any:
    """Run an async test body with a hard time bound, so nothing can hang the suite."""

    async def bounded() -> Any:
        async with asyncio.timeout(limit):
            return await body()

    return asyncio.run(bounded())


async def eventually(predicate: Callable[[], bool], limit: float = 5.0) -> None:
    """Collect garbage and yield to the loop until ``predicate()`` holds (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        gc.collect()
        await asyncio.sleep(0.01)
