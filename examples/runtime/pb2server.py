"""pb2 server: a reference given out and sent back arrives as the server's own object.

Port of Twisted's ``pb2server.py`` (port 8800). The root holds one ``Two`` and returns that same
object from every ``get_two``; ``check_two`` compares the ``Two`` it is given with its own. Runs
until killed. Once bound it writes ``listening on HOST:PORT`` to stderr, so that a runner started
with ``--port 0`` finds the port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

import pbtyped as pb


class Two(pb.Referenceable):
    """Travels by reference; ``print`` is never called by the client."""

    def remote_print(self, arg: object) -> None:
        print("two.print was given", arg, flush=True)


class One(pb.Root):
    """The root object, holding the one ``Two``."""

    def __init__(self) -> None:
        self.two = Two()

    def remote_get_two(self) -> Two:
        print("One.getTwo(), returning my two called", self.two, flush=True)
        return self.two

    def remote_check_two(self, newtwo: Two) -> None:
        print("One.checkTwo(): comparing my two", self.two, flush=True)
        print("One.checkTwo(): against your two", newtwo, flush=True)
        # Our reference came home on the connection we gave it on: it is our own object again,
        # not a RemoteReference, so identity is the right comparison.
        if newtwo is self.two:
            print("One.checkTwo(): our twos are the same", flush=True)


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
