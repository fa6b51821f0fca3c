"""pb3 server: the client passes its own object by reference and the server calls back into it.

Port of Twisted's ``pb3server.py`` (port 8800). Runs until killed. Once bound it writes
``listening on HOST:PORT`` to stderr, so that a runner started with ``--port 0`` finds the port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

import pbtyped as pb


class One(pb.Root):
    """The root object."""

    async def remote_take_two(self, two: pb.RemoteReference) -> None:
        print("received a Two called", two, flush=True)
        print("telling it to print(12)", flush=True)
        # The original fires the call and returns at once. Awaiting it instead means that when
        # take_two answers, the client has already run its print(): no race at the client.
        await two.call_remote("print", 12)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8800)
    args = parser.parse_args()
    async with pb.serve(One(), args.host, args.port) as server:
        print(f"listening on {args.host}:{server.port}", file=sys.stderr, flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
