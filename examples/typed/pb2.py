"""pb2: a reference given back to the server arrives as the server's own object."""

from __future__ import annotations

import asyncio

import pbtyped as pb
from gen.pb2 import REGISTRY, OneClient, OneServer, TwoClient, TwoServer


class Two(TwoServer):
    """The root's only Two."""

    def remote_print(self, arg: int) -> None:
        print(f"two.print was given {arg}")


class One(OneServer):
    """The root: hands out its Two and recognises it when it comes back."""

    def __init__(self) -> None:
        self.two = Two()

    def remote_get_two(self) -> Two:
        print(f"One.getTwo(), returning my two called {self.two!r}")
        return self.two

    def remote_check_two(self, newtwo: TwoClient) -> bool:
        # The stub stands for our own object: local_object() gives it back.
        mine = pb.local_object(newtwo)
        print(f"One.checkTwo(): comparing my two {self.two!r}")
        print(f"One.checkTwo(): against your two {mine!r}")
        if mine is self.two:
            print("One.checkTwo(): our twos are the same")
            return True
        return False


async def client(port: int) -> bool:
    """Get the root's Two and give it back; return whether the root recognised it."""
    async with pb.connect("127.0.0.1", port, registry=REGISTRY) as conn:
        one = await conn.root(OneClient)
        print(f"got one object: {one!r}")
        print("asking it to getTwo")
        two = await one.get_two()
        print(f"got two object: {two!r}")
        print("giving it back to one")
        print(f"one is {one!r}")
        return await one.check_two(two)


async def main() -> None:
    """Serve One on a free port and run the client against it."""
    async with pb.serve(One(), registry=REGISTRY) as server:
        await client(server.port)


if __name__ == "__main__":
    asyncio.run(main())
