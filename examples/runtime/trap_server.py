"""trap server: ``foo_method`` answers or raises ``MyException``; ``shutdown`` stops the server.

Port of Twisted's ``trap_server.py`` (port 8800). Prints nothing on stdout. Unlike the other
servers it exits by itself (status 0) once a client has called ``shutdown``. Once bound it
writes ``listening on HOST:PORT`` to stderr, so that a runner started with ``--port 0`` finds
the port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

import pbtyped as pb


class MyException(pb.Error):
    """An expected error, registered on both sides under the wire name ``trap.MyException``."""


class One(pb.Root):
    """The root object."""

    def __init__(self) -> None:
        self.shutdown_requested = asyncio.Event()

    def remote_foo_method(self, arg: object) -> str:
        if arg == "panic!":
            raise MyException
        return "response"

    def remote_shutdown(self) -> None:
        # PB stops the reactor here. We let main() leave ``serve``, which closes the listener
        # and every connection; the answer to this call may or may not get out first.
        self.shutdown_requested.set()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8800)
    args = parser.parse_args()
    registry = pb.Registry()
    registry.register_error(MyException, "trap.MyException")
    root = One()
    async with pb.serve(root, args.host, args.port, registry=registry) as server:
        print(f"listening on {args.host}:{server.port}", file=sys.stderr, flush=True)
        await root.shutdown_requested.wait()


if __name__ == "__main__":
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
