"""Connection states and the transitions allowed between them (state as data)."""

from __future__ import annotations

import enum

from .._exceptions import LocalProtocolError

__all__ = ["ConnectionState", "transition"]


class ConnectionState(enum.Enum):
    """Where a connection is in its life."""

    #: Our Hello is sent (or about to be); the peer's has not arrived.
    AWAIT_HELLO = "await_hello"
    #: Both Hellos exchanged: calls flow both ways.
    OPEN = "open"
    #: The line is gone (closed by us, by the peer, or by a protocol error).
    CLOSED = "closed"


_TRANSITIONS: dict[ConnectionState, frozenset[ConnectionState]] = {
    ConnectionState.AWAIT_HELLO: frozenset({ConnectionState.OPEN, ConnectionState.CLOSED}),
    ConnectionState.OPEN: frozenset({ConnectionState.CLOSED}),
    ConnectionState.CLOSED: frozenset({ConnectionState.CLOSED}),
}


def transition(current: ConnectionState, new: ConnectionState) -> ConnectionState:
    """Return ``new`` if the move is legal, else raise LocalProtocolError."""
    if new not in _TRANSITIONS[current]:
        raise LocalProtocolError(f"illegal connection state change {current.name} -> {new.name}")
    return new
