"""exc server: raises an expected error (``broken``) and an unexpected one (``broken2``).

Port of Twisted's ``exc_server.py`` (port 8800). ``MyError`` is a ``pb.Error`` registered on both
sides under the wire name ``exc.MyError``: the caller gets a ``MyError`` and the server logs
nothing. ``MyError2`` is a plain ``Exception`` that nobody registers: the caller gets a
``pb.RemoteError`` carrying its name and message, and the server logs it once, with its
traceback, through stdlib ``logging`` (stderr here). The traceback never goes to the caller.
Runs until killed. Once bound it writes ``listening on HOST:PORT`` to stderr, so that a runner
started with ``--port 0`` finds the port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

import pbtyped as pb


class MyError(pb.Error):
    """An expected error: sent to the caller as itself, not logged."""


class MyError2(Exception):
    """An unexpected error: the caller gets a pb.RemoteError; the server logs it."""


class One(pb.Root):
    """The root object: two methods that fail."""

    def remote_broken(self) -> None:
        msg = "fall down go boom"
        print(f"raising a MyError exception with data '{msg}'", flush=True)
        raise MyError(msg)

    def remote_broken2(self) -> None:
        msg = "hadda owie"
        print(f"raising a MyError2 exception with data '{msg}'", flush=True)
        raise MyError2(msg)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8800)
    args = parser.parse_args()
    registry = pb.Registry()
    registry.register_error(MyError, "exc.MyError")
    async with pb.serve(One(), args.host, args.port, registry=registry) as server:
        print(f"listening on {args.host}:{server.port}", file=sys.stderr, flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
