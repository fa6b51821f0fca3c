"""pb1: the root returns a new object by reference; the client calls it."""

from __future__ import annotations

import asyncio

import pbtyped as pb
from gen.pb1 import REGISTRY, OneClient, OneServer, TwoServer


class Two(TwoServer):
    """Made fresh for every ``get_two``."""

    def remote_three(self, arg: int) -> None:
        print(f"Two.three was given {arg}")


class One(OneServer):
    """The root."""

    def remote_get_two(self) -> Two:
        two = Two()
        print(f"returning a Two called {two!r}")
        return two


async def client(port: int) -> None:
    """Get a Two from the root and call ``three(12)`` on it."""
    async with pb.connect("127.0.0.1", port, registry=REGISTRY) as conn:
        one = await conn.root(OneClient)
        print(f"got first object: {one!r}")
        print("asking it to getTwo")
        two = await one.get_two()
        print(f"got second object: {two!r}")
        print("telling it to do three(12)")
        await two.three(12)


async def main() -> None:
    """Serve One on a free port and run the client against it."""
    async with pb.serve(One(), registry=REGISTRY) as server:
        await client(server.port)


if __name__ == "__main__":
    asyncio.run(main())
