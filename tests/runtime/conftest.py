"""The runtime tests use the shared ``run`` fixture (tests/conftest.py) and helpers."""

from __future__ import annotations

import asyncio

from ..support import eventually

__all__ = ["eventually", "silent_peer"]


async def silent_peer(port: int, data: bytes = b"") -> asyncio.Task[bytes]:
    """A raw TCP peer on 127.0.0.1 that sends ``data`` and then nothing; the task reads
    until the server closes (cancel it to close from this side)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)

    async def until_closed() -> bytes:
        try:
            return await reader.read()
        finally:
            writer.close()

    return asyncio.ensure_future(until_closed())
