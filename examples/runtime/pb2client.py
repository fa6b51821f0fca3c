"""pb2 client: gets a ``Two`` from the root and gives the reference back to it.

Port of Twisted's ``pb2client.py`` (port 8800). The original's chain of callbacks on a state
object becomes one coroutine whose locals carry the state. The original ignores the answer to
``checkTwo`` and runs forever; this one awaits it (so the server has printed its lines) and
exits with status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

import pbtyped as pb


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8800)
    args = parser.parse_args()
    async with pb.connect(args.host, args.port) as client:
        one = await client.root()
        print("got one object:", one, flush=True)
        print("asking it to getTwo", flush=True)
        two: pb.RemoteReference = await one.call_remote("get_two")
        print("got two object:", two, flush=True)
        print("giving it back to one", flush=True)
        print("one is", one, flush=True)
        await one.call_remote("check_two", two)


if __name__ == "__main__":
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main())
