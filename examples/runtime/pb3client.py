"""pb3 client: gives the server a reference to its own ``Two``; the server calls ``print`` on it.

Port of Twisted's ``pb3client.py`` (port 8800). The original ignores the answer to ``takeTwo``
and runs forever; this one awaits it (by then the server's call into our ``Two`` has been
answered) and exits with status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

import pbtyped as pb


class Two(pb.Referenceable):
    """Our object, passed to the server by reference: it calls us back over the same line."""

    def remote_print(self, arg: int) -> None:
        print("Two.print() called with", arg, flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8800)
    args = parser.parse_args()
    two = Two()
    async with pb.connect(args.host, args.port) as client:
        one = await client.root()
        print("got One:", one, flush=True)
        print("giving it our two", flush=True)
        await one.call_remote("take_two", two)


if __name__ == "__main__":
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main())
