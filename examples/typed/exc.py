"""exc: an expected error arrives as itself; an unexpected one as RemoteError."""

from __future__ import annotations

import asyncio

import pbtyped as pb
from gen.exc import REGISTRY, MyError, OneClient, OneServer


class MyError2(Exception):
    """Unexpected: not a pb.Error and not registered, so the server logs it."""


class One(OneServer):
    """The root: both methods fail."""

    def remote_broken(self) -> None:
        msg = "fall down go boom"
        print(f"raising a MyError exception with data '{msg}'")
        raise MyError(msg)

    def remote_broken2(self) -> None:
        msg = "hadda owie"
        print(f"raising a MyError2 exception with data '{msg}'")
        raise MyError2(msg)


async def client(port: int, method: str = "broken") -> None:
    """Call ``broken`` (or ``broken2``) and describe the error that comes back."""
    async with pb.connect("127.0.0.1", port, registry=REGISTRY) as conn:
        one = await conn.root(OneClient)
        try:
            await (one.broken() if method == "broken" else one.broken2())
        except pb.RemoteError as exc:
            print("got remote Exception")
            print(f" .__class__ = {type(exc).__name__}")
            print(f" .message = {exc.message}")
            print(f" .remote_type = {exc.remote_type}")
        except MyError as exc:
            print("got remote Exception")
            print(f" .__class__ = {type(exc).__name__}")
            print(f" .message = {exc}")


async def main() -> None:
    """Serve One on a free port and call both methods."""
    async with pb.serve(One(), registry=REGISTRY) as server:
        await client(server.port, "broken")
        await client(server.port, "broken2")


if __name__ == "__main__":
    asyncio.run(main())
