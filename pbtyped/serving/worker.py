"""One worker process of ``pbtyped serve``: load the application, listen, drain on SIGTERM.

Started by the supervisor as ``python -m pbtyped.serving.worker CONFIG_JSON READY_FD``. It
writes one line to READY_FD once it listens, and exits with an ``ExitCode``: APP when the
application cannot be loaded, LISTEN when the address cannot be listened on, OK after a
drain. SIGINT is ignored: a Ctrl-C reaches the whole process group, and the supervisor
decides when its workers drain.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys

from ..runtime.endpoints import Server, serve
from .config import AppError, ExitCode, ServeConfig, load_root

__all__ = ["drain", "main", "set_up_logging"]

log = logging.getLogger("pbtyped.serve")

#: Seconds between two checks that the supervisor is still there.
ORPHAN_CHECK = 1.0


def set_up_logging(level: str) -> None:
    """Log lines to stderr, each naming its process (workers share the terminal)."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"
    )


async def drain(server: Server, grace: float, reason: str) -> None:
    """Stop accepting, say GOODBYE, let calls in flight finish within ``grace`` seconds, run
    logouts and ``pb_detached``, close: ``Server.drain``, the one place the runner asks for
    it."""
    await server.drain(grace=grace, reason=reason)


async def serve_config(config: ServeConfig, ready_fd: int | None) -> int:
    """Serve the application until SIGTERM, then drain; the exit code."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, lambda: None)
    try:
        root = await load_root(config.target)
    except AppError as exc:
        log.error("%s", exc, exc_info=exc.__cause__)
        return ExitCode.APP
    server = serve(
        root,
        config.host,
        config.port,
        limits=config.limits_value(),
        ssl=config.ssl_context(),
        proxy_protocol_from=config.proxy_protocol_from,
        reuse_port=hasattr(socket, "SO_REUSEPORT"),  # the supervisor holds the port too
    )
    try:
        await server.start()
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", config.host, config.port, exc)
        return ExitCode.LISTEN
    if ready_fd is not None:
        try:
            os.write(ready_fd, f"ready {server.port}\n".encode())
            os.close(ready_fd)
        except OSError:  # the supervisor stopped waiting: it is draining
            pass
    watch = asyncio.create_task(_orphaned(stop))
    await stop.wait()
    watch.cancel()
    log.debug("draining (grace %s s)", config.grace)
    await drain(server, config.grace, "server shutting down")
    return ExitCode.OK


async def _orphaned(stop: asyncio.Event) -> None:
    """Drain when the supervisor is gone (killed with SIGKILL, it could tell no one): the
    worker's parent changes. Looked at once a second."""
    parent = os.getppid()
    while True:
        await asyncio.sleep(ORPHAN_CHECK)
        if os.getppid() != parent:
            break
    log.warning("the supervisor (pid %d) is gone: draining", parent)
    stop.set()


def main(argv: list[str]) -> int:
    """``python -m pbtyped.serving.worker CONFIG_JSON READY_FD``."""
    config = ServeConfig.from_json(argv[0])
    set_up_logging(config.log_level)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return asyncio.run(serve_config(config, int(argv[1])))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
