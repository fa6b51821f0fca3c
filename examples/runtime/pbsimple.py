"""pbsimple server: an Echoer root that prints what it echoes (port 8789).

Port of Twisted's ``pbsimple.py``. Runs until killed. Once bound it writes
``listening on HOST:PORT`` to stderr, so that a runner started with ``--port 0`` finds the port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

import pbtyped as pb


class Echoer(pb.Root):
    """The root object: one remote method that returns its argument."""

    def remote_echo(self, st: str) -> str:
        print("echoing:", st, flush=True)
        return st


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8789)
    args = parser.parse_args()
    async with pb.serve(Echoer(), args.host, args.port) as server:
        print(f"listening on {args.host}:{server.port}", file=sys.stderr, flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
