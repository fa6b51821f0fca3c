"""pb1 client: gets the root, asks it for a ``Two`` and calls ``three(12)`` on that.

Port of Twisted's ``pb1client.py`` (port 8800). The original ignores the answer to ``three`` and
runs forever; this one awaits the answer (so the server has printed its line) and exits with
status 0. As in the original, failing to get the root prints ``error getting first object`` and
the error, with status 0.
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
    try:
        client = await pb.connect(args.host, args.port)
        one = await client.root()
    except Exception as exc:
        print("error getting first object", repr(exc), flush=True)
        return
    async with client:
        print("got first object:", one, flush=True)
        print("asking it to getTwo", flush=True)
        two: pb.RemoteReference = await one.call_remote("get_two")
        print("got second object:", two, flush=True)
        print("telling it to do three(12)", flush=True)
        await two.call_remote("three", 12)


if __name__ == "__main__":
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main())
