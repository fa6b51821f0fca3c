"""``pbtyped.run``: run a program's main coroutine, on uvloop when asked and available;
``serve_until_signalled``: serve until SIGTERM or SIGINT, then drain."""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .endpoints import Server

__all__ = ["run", "serve_until_signalled"]

log = logging.getLogger("pbtyped")

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T], *, use_uvloop: bool = False) -> T:
    """Run ``main`` to completion, like ``asyncio.run``.

    With ``use_uvloop=True`` the loop is uvloop's when the ``uvloop`` package is installed
    (``pip install 'pbtyped[uvloop]'``), and asyncio's own otherwise: the one setting for the
    fast path, with nothing else to change in the program.
    """
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if use_uvloop:
        try:
            uvloop = importlib.import_module("uvloop")
        except ImportError:
            uvloop = None
        if uvloop is not None:
            loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main)


async def serve_until_signalled(
    server: Server,
    *,
    grace: float = 30.0,
    signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT),
) -> signal.Signals:
    """Serve until one of ``signals`` arrives, then ``server.drain(grace)`` and return it.

    The way to end a server process cleanly (``pbtyped.run(serve_until_signalled(server))``
    exits with status 0): one log line says which signal came and that the server drains;
    no KeyboardInterrupt, no traceback. The server is started if it was not. Signals that
    come while it drains are ignored. Needs a loop that handles signals (Unix, main thread).
    """
    if not server.is_serving:
        await server.start()
    loop = asyncio.get_running_loop()
    received: asyncio.Future[signal.Signals] = loop.create_future()
    wanted = list(signals)

    def stop(sig: signal.Signals) -> None:
        if not received.done():
            received.set_result(sig)

    for sig in wanted:
        loop.add_signal_handler(sig, stop, sig)
    try:
        sig = await received
        log.info(
            "%s received: draining %d connection(s), grace %g s",
            sig.name,
            len(server.connections),
            grace,
        )
        await server.drain(grace)
    finally:
        for each in wanted:
            loop.remove_signal_handler(each)
    return sig
