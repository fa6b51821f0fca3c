"""A pbtyped client in its own process, for tests that freeze a peer: ``python -m
tests.faults.client_main PORT``. Connects, prints ``ready`` once a call went through, then
holds the connection open until killed."""

from __future__ import annotations

import asyncio
import sys

import pbtyped as pb

from .harness import registry


async def main(port: int) -> None:
    async with pb.connect("127.0.0.1", port, registry=registry()) as client:
        root = await client.root()
        await root.call("echo", ["ready"])
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main(int(sys.argv[1])))
    except KeyboardInterrupt:
        sys.exit(0)
