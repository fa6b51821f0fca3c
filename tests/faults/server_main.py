"""A pbtyped server in its own process, for restart tests: ``python -m tests.faults.server_main
[--port N]``. Prints the bound port on its first line of output, then serves until killed."""

from __future__ import annotations

import argparse
import asyncio
import sys

import pbtyped as pb

from .harness import Service, registry


async def main(port: int) -> None:
    async with pb.serve(Service(), "127.0.0.1", port, registry=registry()) as server:
        print(server.port, flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    try:
        asyncio.run(main(parser.parse_args().port))
    except KeyboardInterrupt:
        sys.exit(0)
