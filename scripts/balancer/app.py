"""The service scripts/balancer_check.py serves behind HAProxy."""

from __future__ import annotations

import logging
import os
import weakref

import pbtyped as pb

log = logging.getLogger("balanced")


class Balanced(pb.Root):
    """``who()``: this worker's pid and the client address the connection sees."""

    def __init__(self) -> None:
        self._seen: weakref.WeakSet[pb.Connection] = weakref.WeakSet()

    def remote_who(self) -> list[object]:
        conn = pb.current_connection()
        host, port = conn.peer[0], conn.peer[1]
        if conn not in self._seen:  # once per connection: the real client address
            self._seen.add(conn)
            log.info("connection from %s:%s", host, port)
        return [os.getpid(), host, port]


def make() -> Balanced:
    return Balanced()
