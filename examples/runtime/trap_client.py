"""trap client: the four outcomes of a remote call, each handled by a plain ``except``.

Port of Twisted's ``trap_client.py`` (port 8800), printing the output the PB guide documents:

- callOne: a safe argument; the call succeeds.
- callTwo: a ``ScaryObject``, registered nowhere, is refused at the sender with
  ``pb.InsecureTypeError`` before anything is sent (PB's ``InsecureJelly``).
- callThree: the server raises ``MyException``, which both sides register as
  ``trap.MyException``, so it arrives as our own ``MyException`` class.
- after ``shutdown`` the server exits; callFour on the stale reference raises
  ``pb.DeadReferenceError`` at once.

PB chains errbacks with ``Failure.trap()``; an ``except`` clause per outcome replaces them. PB
spaces the steps one second apart and relies on the loss being noticed by t+5; this client runs
them back to back and, before callFour, waits (bounded) to be told the connection is gone, so
the stale-reference outcome does not depend on timing. Exits with status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

import pbtyped as pb

log = logging.getLogger("trap_client")


class MyException(pb.Error):
    """Our copy of the server's error, registered under the same wire name."""


class MyOtherException(pb.Error):
    """Another error the server might raise (it never does)."""


class ScaryObject:
    """Neither registered nor Referenceable: pbtyped refuses to send it."""


async def do_call(root: pb.RemoteReference, explanation: str, arg: object) -> None:
    print(explanation, flush=True)
    try:
        response = await root.call_remote("foo_method", arg)
    except pb.DeadReferenceError:
        print(" stale reference: the client disconnected or crashed", flush=True)
    except pb.InsecureTypeError:
        print(" InsecureJelly: you tried to send something unsafe to them", flush=True)
    except (MyException, MyOtherException) as exc:
        print(f" remote raised a {type(exc).__name__}", flush=True)
    except Exception:
        print(" something else happened", flush=True)
        log.exception("call_remote('foo_method', %r) failed", arg)
    else:
        print(f" method successful, response: {response}", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8800)
    args = parser.parse_args()
    registry = pb.Registry()
    registry.register_error(MyException, "trap.MyException")
    registry.register_error(MyOtherException, "trap.MyOtherException")
    async with pb.connect(args.host, args.port, registry=registry) as client:
        disconnected = asyncio.Event()
        client.notify_on_disconnect(lambda _connection: disconnected.set())
        root = await client.root()

        await do_call(root, "callOne: call with safe object", "safe string")
        await do_call(root, "callTwo: call with dangerous object", ScaryObject())
        await do_call(root, "callThree: call that raises remote exception", "panic!")

        print("telling them to shut down", flush=True)
        try:
            await root.call_remote("shutdown")
        except pb.ConnectionLost:
            pass  # the server may close the line before its answer gets out
        async with asyncio.timeout(10):
            await disconnected.wait()

        await do_call(root, "callFour: call on stale reference", "dummy")


if __name__ == "__main__":
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main())
