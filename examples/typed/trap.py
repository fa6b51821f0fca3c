"""trap: a safe call, a refused argument, a remote error, a shutdown and a stale reference."""

from __future__ import annotations

import asyncio

import pbtyped as pb
from gen.trap import REGISTRY, MyException, MyOtherException, OneClient, OneServer


class ScaryObject:
    """A plain object: not on the registry, so it is refused before it is sent."""


class One(OneServer):
    """The root; ``shutdown`` asks the program to stop serving."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()

    def remote_foo_method(self, arg: str) -> str:
        if arg == "panic!":
            raise MyException("panic!")
        return "response"

    def remote_shutdown(self) -> None:
        self.stop.set()


async def do_call(one: OneClient, arg: str | ScaryObject) -> None:
    """Call foo_method and say what happened, telling the errors apart."""
    try:
        if isinstance(arg, str):
            result = await one.foo_method(arg)
        else:
            # The typed stub would not accept this (mypy says so): use the raw reference.
            result = await one.pb_reference.call_remote("foo_method", arg)
        print(" method successful, response:", result)
    except pb.DeadReferenceError:
        print(" stale reference: the client disconnected or crashed")
    except pb.InsecureTypeError:
        print(" InsecureTypeError: you tried to send something unsafe to them")
    except (MyException, MyOtherException) as exc:
        print(f" remote raised a {type(exc).__name__}")
    except pb.Error:
        print(" something else happened")


async def client(port: int, server_gone: asyncio.Event) -> None:
    """The five steps of the original client, one after the other."""
    async with pb.connect("127.0.0.1", port, registry=REGISTRY) as conn:
        lost = asyncio.Event()
        conn.notify_on_disconnect(lambda _: lost.set())
        one = await conn.root(OneClient)
        print("callOne: call with safe object")
        await do_call(one, "safe string")
        print("callTwo: call with dangerous object")
        await do_call(one, ScaryObject())
        print("callThree: call that raises remote exception")
        await do_call(one, "panic!")
        print("telling them to shut down")
        try:
            await one.shutdown()
        except pb.ConnectionLost:
            pass
        await server_gone.wait()
        await lost.wait()
        print("callFour: call on stale reference")
        await do_call(one, "dummy")


async def main() -> None:
    """Serve One until it is told to shut down; run the client meanwhile."""
    root = One()
    server_gone = asyncio.Event()
    server = await pb.serve(root, registry=REGISTRY).start()

    async def stop_when_told() -> None:
        await root.stop.wait()
        await server.aclose()
        server_gone.set()

    stopper = asyncio.create_task(stop_when_told())
    await client(server.port, server_gone)
    await stopper


if __name__ == "__main__":
    asyncio.run(main())
