"""pbsimple client: asks the Echoer to echo "hello network" and prints the answer.

Port of Twisted's ``pbsimpleclient.py``. Like the original, it prints one line, ``server echoed:
...`` or ``error: ...`` (connection failure or remote error), and exits with status 0 either way.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

import pbtyped as pb


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8789)
    args = parser.parse_args()
    try:
        async with pb.connect(args.host, args.port) as client:
            root = await client.root()
            echoed: str = await root.call_remote("echo", "hello network")
        line = f"server echoed: {echoed}"
    except Exception as exc:  # PB's errback after both steps: any failure becomes one line
        line = f"error: {exc}"
    print(line, flush=True)


if __name__ == "__main__":
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main())
