"""pb3: the client passes its own object by reference and the server calls back into it."""

from __future__ import annotations

import asyncio

import pbtyped as pb
from gen.pb3 import REGISTRY, OneClient, OneServer, TwoClient, TwoServer


class Two(TwoServer):
    """Lives in the client."""

    def remote_print(self, arg: int) -> None:
        print(f"Two.print() called with {arg}")


class One(OneServer):
    """The root, on the server."""

    async def remote_take_two(self, two: TwoClient) -> None:
        print(f"received a Two called {two!r}")
        print("telling it to print(12)")
        await two.print(12)


async def client(port: int) -> None:
    """Give the server a reference to our Two."""
    async with pb.connect("127.0.0.1", port, registry=REGISTRY) as conn:
        one = await conn.root(OneClient)
        print(f"got One: {one!r}")
        print("giving it our two")
        await one.take_two(Two())


async def main() -> None:
    """Serve One on a free port and run the client against it."""
    async with pb.serve(One(), registry=REGISTRY) as server:
        await client(server.port)


if __name__ == "__main__":
    asyncio.run(main())
