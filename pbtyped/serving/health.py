"""The health endpoint of a ``pbtyped serve`` instance, and ``pbtyped health``'s probe.

``GET /health`` answers ``200 serving`` while the instance serves and ``503 draining`` (or
``503 starting`` before its first worker listens). Plain asyncio, HTTP/1.0-style: one
request per connection. It is network input too: a request head is read to at most
``MAX_REQUEST`` bytes within ``REQUEST_TIMEOUT`` seconds, and at most ``MAX_CLIENTS``
connections are served at once (more are closed at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
from collections.abc import Callable

__all__ = [
    "MAX_CLIENTS",
    "MAX_REQUEST",
    "REQUEST_TIMEOUT",
    "HealthServer",
    "parse_address",
    "probe",
]

#: Bytes of request line and headers read at most (probes send about a hundred).
MAX_REQUEST = 4096
#: Seconds a probe gets to send its request and read the answer.
REQUEST_TIMEOUT = 2.0
#: Probe connections served at once.
MAX_CLIENTS = 32

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
_REASONS[503] = "Service Unavailable"


class HealthServer:
    """Answers probes with ``status()``: "serving" is healthy (200), anything else is 503."""

    def __init__(self, status: Callable[[], str]) -> None:
        self._status = status
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[object]] = set()

    async def start(self, host: str | None, port: int) -> None:
        """Listen on (host, port)."""
        self._server = await asyncio.start_server(self._serve, host, port, limit=MAX_REQUEST)

    @property
    def port(self) -> int:
        """The bound port."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def aclose(self) -> None:
        """Stop listening; wait for the probes being answered (each within REQUEST_TIMEOUT:
        cancelled, a handler of asyncio.start_server logs an error on Python 3.11)."""
        if self._server is not None:
            self._server.close()
            await asyncio.gather(*self._clients, return_exceptions=True)
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._clients) >= MAX_CLIENTS:
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
                code, body = self._answer(head)
                writer.write(_response(code, body, head.startswith(b"HEAD ")))
                await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.LimitOverrunError:  # a request head over MAX_REQUEST
            writer.write(_response(400, "request too large", False))
        finally:
            self._clients.discard(task)
            writer.close()

    def _answer(self, head: bytes) -> tuple[int, str]:
        method, _, rest = head.partition(b" ")
        path = rest.partition(b" ")[0].partition(b"?")[0]
        if method not in (b"GET", b"HEAD"):
            return 405, "GET or HEAD only"
        if path != b"/health":
            return 404, "not found: the health endpoint is /health"
        status = self._status()
        return (200 if status == "serving" else 503), status


def _response(code: int, body: str, head_only: bool) -> bytes:
    data = (body + "\n").encode()
    lines = [
        f"HTTP/1.1 {code} {_REASONS[code]}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(data)}",
        "Cache-Control: no-store",
        "Connection: close",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (b"" if head_only else data)


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8751`` for IPv6) as (host, port); ValueError if it is not."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.removeprefix("[").removesuffix("]"), int(port)


def probe(host: str, port: int, timeout: float = 5.0) -> tuple[bool, str]:
    """GET /health: (healthy, the status text or why the probe failed)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/health")
        answer = conn.getresponse()
        text = answer.read(MAX_REQUEST).decode("utf-8", "replace").strip()
        return answer.status == 200, text or f"HTTP {answer.status}"
    except (OSError, http.client.HTTPException) as exc:
        return False, f"no answer from {host}:{port}: {exc}"
    finally:
        with contextlib.suppress(OSError):
            conn.close()
