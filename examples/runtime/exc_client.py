"""exc client: calls ``broken`` (or ``broken2`` with ``--method broken2``) and shows the error.

Port of Twisted's ``exc_client.py`` (port 8800). PB's errback received a ``Failure``, always a
``CopiedFailure`` whose value is only a string, and printed its class, ``getErrorMessage()`` and
``.type``. Here ``call_remote`` raises a real exception and the four lines show what it is:

    got remote Exception                       (unchanged)
    .__class__ = <the exception's class>       PB: CopiedFailure. Here, for ``broken``: our own
                                               MyError, because both sides register it under
                                               the wire name "exc.MyError"; for ``broken2``:
                                               pbtyped.RemoteError, since MyError2 is registered
                                               nowhere and so is never built from the wire.
    str(exc) = fall down go boom               PB: getErrorMessage(). A registered error's
      or .message = hadda owie                 message is str(exc); a RemoteError's is .message
                                               (its str() is "<remote type>: <message>").
    wire name = exc.MyError                    PB: .type. The type name that crossed the wire:
      or .remote_type = __main__.MyError2      the registry's name for a registered error, else
                                               the server's module-qualified class name.

Each line starts with a space, as in the original, and each label is the real expression (or,
for "wire name", ``registry.error_name(type(exc))``). Exits with status 0 after the error, like
the original; if the call unexpectedly succeeds it prints the original's complaint.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

import pbtyped as pb


class MyError(pb.Error):
    """Our copy of the server's expected error, registered under the same wire name."""


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8800)
    parser.add_argument(
        "--method",
        choices=["broken", "broken2"],
        default="broken",
        help="broken2 raises an unexpected error: see the server log its traceback",
    )
    args = parser.parse_args()
    registry = pb.Registry()
    registry.register_error(MyError, "exc.MyError")
    async with pb.connect(args.host, args.port, registry=registry) as client:
        root = await client.root()
        try:
            await root.call_remote(args.method)
        except pb.RemoteError as exc:
            print("got remote Exception", flush=True)
            print(" .__class__ =", exc.__class__, flush=True)
            print(" .message =", exc.message, flush=True)
            print(" .remote_type =", exc.remote_type, flush=True)
        except pb.Error as exc:
            print("got remote Exception", flush=True)
            print(" .__class__ =", exc.__class__, flush=True)
            print(" str(exc) =", exc, flush=True)
            print(" wire name =", registry.error_name(type(exc)), flush=True)
        else:
            print("erm, it wasn't *supposed* to work..", flush=True)


if __name__ == "__main__":
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(main())
