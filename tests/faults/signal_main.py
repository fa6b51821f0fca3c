"""A server process ended by a signal: ``python -m tests.faults.signal_main``. Prints its
port, serves until SIGTERM or SIGINT (``pb.serve_until_signalled``), drains and exits."""

from __future__ import annotations

import asyncio
import logging

import pbtyped as pb


class Slow(pb.Root):
    """``hold`` answers after ``seconds``, so a call is in flight when the signal comes."""

    async def remote_hold(self, seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "finished"


async def main() -> None:
    server = await pb.serve(Slow()).start()
    print(server.port, flush=True)
    await pb.serve_until_signalled(server, grace=5.0)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    pb.run(main())
