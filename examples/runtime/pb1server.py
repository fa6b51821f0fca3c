"""pb1 server: the root hands out a new ``Two``, by reference, on every ``get_two`` call.

Port of Twisted's ``pb1server.py`` (port 8800). Runs until killed. Once bound it writes
``listening on HOST:PORT`` to stderr, so that a runner started with ``--port 0`` finds the port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

import pbtyped as pb


class Two(pb.Referenceable):
    """Travels by reference: the client gets a RemoteReference and calls ``three`` on it."""

    def remote_three(self, arg: int) -> None:
        print("Two.three was given", arg, flush=True)


class One(pb.Root):
    """The root object."""

    def remote_get_two(self) -> Two:
        two = Two()
        print("returning a Two called", two, flush=True)
        return two


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
