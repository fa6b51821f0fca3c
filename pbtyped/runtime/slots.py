"""What a server shares among its connections: slots, the byte budget, file descriptors.

``Slots`` counts a connection from the moment asyncio accepts its socket (TLS handshake
included) and bounds the share one peer address may take. ``Budget`` bounds the bytes all
connections hold at once. ``ServerSide`` is what each connection of a server is given.
``plan_descriptors`` fits ``max_connections`` to the process's file-descriptor limit. None of
them does I/O; the server and its connections drive them.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from .logs import LogLimiter

__all__ = [
    "FD_RESERVE",
    "Budget",
    "DescriptorPlan",
    "ServerSide",
    "Slots",
    "address_of",
    "plan_descriptors",
]

#: File descriptors kept for what is not a connection (listening sockets, the event loop's
#: selector, log files, the application's own files).
FD_RESERVE = 64


def address_of(peer: Any) -> str:
    """The part of a peer's socket address that names the peer: its IPv4 address, or its
    IPv6 /64 network (one host is commonly given a whole /64, so a single address would name
    only a sliver of what one peer holds)."""
    if not (isinstance(peer, tuple) and peer):
        return str(peer)
    host = str(peer[0])
    try:
        ip = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return host


class Slots:
    """The connection slots of one server.

    ``reserve`` at accept (asyncio's protocol factory): with TLS, our ``connection_made`` comes
    only after the TLS handshake, and a failed or silent handshake never calls it nor
    ``connection_lost``; so a slot taken at accept is given back by a timer unless ``admit``
    (from ``connection_made``) takes it over, and ``release`` (from ``connection_lost``)
    returns it. ``admit`` also bounds the slots one peer address may hold.
    """

    def __init__(self, max_connections: int, per_address: int, unstarted_after: float) -> None:
        self.max_connections = max_connections
        self._per_address = per_address
        self._unstarted_after = unstarted_after
        self._held: dict[Hashable, asyncio.TimerHandle | None] = {}
        self._addresses: collections.Counter[str] = collections.Counter()
        self._address: dict[Hashable, str] = {}

    @property
    def in_use(self) -> int:
        """Slots taken: connections, and sockets still in their TLS handshake."""
        return len(self._held)

    def reserve(self, conn: Hashable) -> bool:
        """Take a slot for a socket just accepted; False if the server is full."""
        if len(self._held) >= self.max_connections:
            return False
        loop = asyncio.get_running_loop()
        self._held[conn] = loop.call_later(self._unstarted_after, self.release, conn)
        return True

    def admit(self, conn: Hashable, peer: Any) -> str | None:
        """The connection is made: keep its slot, or say why it is refused."""
        if conn not in self._held:
            return f"server full ({self.max_connections} connections)"
        timer = self._held[conn]
        if timer is not None:
            timer.cancel()
        self._held[conn] = None
        address = address_of(peer)
        if self._addresses[address] >= self._per_address:
            self.release(conn)
            return (
                f"too many connections from {address} ({self._per_address}; "
                "Limits.max_connections_per_address)"
            )
        self._addresses[address] += 1
        self._address[conn] = address
        return None

    def release(self, conn: Hashable) -> None:
        """Give the slot back (any number of times: only the first counts)."""
        timer = self._held.pop(conn, None)
        if timer is not None:
            timer.cancel()
        address = self._address.pop(conn, None)
        if address is not None:
            self._addresses[address] -= 1
            if not self._addresses[address]:
                del self._addresses[address]


class Budget:
    """Bytes held at once across a server's connections (partial frames, arguments of calls
    in flight), against ``Limits.max_bytes_held``.

    Each connection reports its changes with ``change``; one over budget pauses its reading
    and registers ``wait(key, resume)``. When the total drops back within the limit, every
    waiting connection is resumed (each pauses again if it pushes the total over).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._waiting: dict[Hashable, Callable[[], None]] = {}

    @property
    def over(self) -> bool:
        """True while more than the limit is held."""
        return self.used > self.limit

    @property
    def waiting(self) -> int:
        """Connections whose reading is paused until the budget frees."""
        return len(self._waiting)

    def change(self, delta: int) -> None:
        """A connection now holds ``delta`` bytes more (or fewer, if negative)."""
        self.used += delta
        if delta < 0 and self._waiting and self.used <= self.limit:
            waiting, self._waiting = self._waiting, {}
            for resume in waiting.values():
                resume()

    def wait(self, key: Hashable, resume: Callable[[], None]) -> None:
        """Call ``resume()`` once the budget is no longer exceeded."""
        self._waiting[key] = resume

    def forget(self, key: Hashable) -> None:
        """``key`` no longer waits (its connection closed, or it must be read anyway)."""
        self._waiting.pop(key, None)


class ServerSide:
    """What a server shares with every one of its connections: admission (``admit(connection)``
    returns a refusal or None), ``closed(connection)`` once one is gone, the byte budget, the
    pre-login idle limit and the rate-limited log. One per server; clients have none."""

    __slots__ = ("admit", "budget", "closed", "logs", "prelogin_idle")

    def __init__(
        self,
        *,
        admit: Callable[[Any], str | None],
        closed: Callable[[Any], None],
        budget: Budget,
        prelogin_idle: float | None,
        logs: LogLimiter,
    ) -> None:
        self.admit = admit
        self.closed = closed
        self.budget = budget
        self.prelogin_idle = prelogin_idle
        self.logs = logs


@dataclass(frozen=True, slots=True)
class DescriptorPlan:
    """What to do about the file-descriptor limit: the soft limit to set (None: leave it),
    the ``max_connections`` that fits, and the log line that says so (None: all is well)."""

    new_soft: int | None
    max_connections: int
    message: str | None


def plan_descriptors(max_connections: int, soft: int, hard: int, infinity: int) -> DescriptorPlan:
    """Fit ``max_connections`` (one descriptor each, plus ``FD_RESERVE``) to the limits."""
    needed = max_connections + FD_RESERVE
    if soft == infinity or soft >= needed:
        return DescriptorPlan(None, max_connections, None)
    target = needed if hard == infinity else min(needed, hard)
    new_soft = target if target > soft else None
    limit = max(target, soft)
    if limit >= needed:
        return DescriptorPlan(
            new_soft,
            max_connections,
            f"raised the open-file soft limit from {soft} to {limit} to fit "
            f"max_connections={max_connections}",
        )
    fits = max(1, limit - FD_RESERVE)
    raised = f"raised the open-file soft limit from {soft} to {limit}; " if new_soft else ""
    return DescriptorPlan(
        new_soft,
        fits,
        f"{raised}the open-file limit ({limit}, hard limit {hard}) is too low for "
        f"max_connections={max_connections}: serving at most {fits} connections (raise the "
        "hard limit, e.g. ulimit -Hn, or lower Limits.max_connections)",
    )
