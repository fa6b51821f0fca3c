"""The PROXY protocol gate: a server connection's protocol until its PROXY header is read.

With ``serve(proxy_protocol_from=...)`` every accepted socket first gets a ``ProxyGate``.
From a configured balancer it reads the PROXY v2 header (``wire/proxy.py``), sets the
connection's ``peer`` to the client address the header names, and hands the transport (and
any bytes after the header) to the ``Connection``: from then on the gate is gone, and the
per-address connection share, the logs and the login rate limits see the real client. From
any other peer it only checks that the first bytes are not a PROXY header, then hands over
at once. Nothing here stays allocated for the connection's life.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from ..wire.proxy import SIGNATURE, ProxyHeaderError, ProxyPolicy, parse_header
from .connection import Connection, _address
from .logs import LogLimiter
from .slots import address_of

__all__ = ["ProxyGate"]


class ProxyGate(asyncio.Protocol):
    """Reads the PROXY header of one accepted socket, then steps aside for ``conn``."""

    def __init__(self, conn: Connection, policy: ProxyPolicy, logs: LogLimiter) -> None:
        self._conn = conn
        self._policy = policy
        self._logs = logs
        self._transport: asyncio.Transport | None = None
        self._peer: Any = None
        self._trusted = False
        self._buffer = bytearray()  # grown in place: a header dripped a byte at a time stays linear
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._peer = transport.get_extra_info("peername")
        self._trusted = self._policy.trusts(self._peer)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._policy.timeout, self._expired)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self._trusted:
            seen = min(len(buffer), len(SIGNATURE))
            if buffer[:seen] != SIGNATURE[:seen]:
                self._hand_over(self._peer, bytes(buffer))
            elif seen == len(SIGNATURE):
                self._refuse("a PROXY header from an address not configured as a balancer")
            return
        try:
            header = parse_header(buffer)
        except ProxyHeaderError as exc:
            self._refuse(f"{exc} (a configured balancer must send a PROXY v2 header)")
            return
        if header is not None:
            peer = self._peer if header.source is None else header.source
            self._hand_over(peer, bytes(buffer[header.length :]))

    def eof_received(self) -> bool | None:
        return None  # the transport closes itself; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._conn.connection_lost(exc)  # gives the server slot back

    def _hand_over(self, peer: Any, rest: bytes) -> None:
        transport = self._transport
        assert transport is not None
        if self._timer is not None:
            self._timer.cancel()
        self._buffer = bytearray()
        conn = self._conn
        conn.peer = peer
        transport.set_protocol(conn)
        conn.connection_made(transport)
        if rest and not transport.is_closing():
            conn.data_received(rest)

    def _expired(self) -> None:
        what = "PROXY header" if self._trusted else "first bytes"
        self._refuse(f"no {what} within {self._policy.timeout} s")

    def _refuse(self, reason: str) -> None:
        self._logs.warning(
            "closing connection from %s: %s",
            _address(self._peer),
            reason,
            key=address_of(self._peer),
        )
        if self._transport is not None:
            self._transport.abort()
