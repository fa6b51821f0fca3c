"""pbsimple: echo a string (the smallest typed pbtyped program)."""

from __future__ import annotations

import asyncio

import pbtyped as pb
from gen.pbsimple import REGISTRY, EchoerClient, EchoerServer


class Echoer(EchoerServer):
    """Prints what it echoes."""

    def remote_echo(self, st: str) -> str:
        print("echoing:", st)
        return st


async def client(port: int) -> None:
    """Ask the server to echo "hello network"."""
    async with pb.connect("127.0.0.1", port, registry=REGISTRY) as conn:
        echoer = await conn.root(EchoerClient)
        print("server echoed:", await echoer.echo("hello network"))


async def main() -> None:
    """Serve an Echoer on a free port and run the client against it."""
    async with pb.serve(Echoer(), registry=REGISTRY) as server:
        await client(server.port)


if __name__ == "__main__":
    asyncio.run(main())
