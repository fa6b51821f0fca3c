"""What ``serve()`` and ``connect()`` are given, in one typed value every connection reads."""

from __future__ import annotations

import ssl as _ssl
from dataclasses import dataclass, field
from typing import Any, TypedDict

from ..protocol.objects import Referenceable
from ..wire.limits import Limits
from ..wire.registry import Registry

__all__ = ["ConnectOptions", "Options"]


class ConnectOptions(TypedDict, total=False):
    """``connect()``'s keyword options, for an API that passes them on to it as they are
    (``sync.connect(host, port, **options)``), so that mypy checks them there too. The
    meaning and defaults are ``connect()``'s; a test keeps the two lists the same."""

    registry: Registry | None
    limits: Limits | None
    root: Referenceable | None
    send_tracebacks: bool
    timeout: float | None
    ssl: _ssl.SSLContext | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """The settings shared by a server and all its connections, or by one client connection.

    ``serve()`` and ``connect()`` build it from their keyword arguments (their documented
    meaning is theirs); ``Server`` and ``Connection`` read it. ``root`` is the object the peer
    fetches as our root: a server's ``Root``, or what a client offers (None: nothing).
    """

    registry: Registry = field(default_factory=Registry)
    limits: Limits = field(default_factory=Limits)
    root: Referenceable | None = None
    send_tracebacks: bool = False
    ssl: _ssl.SSLContext | None = None

    @classmethod
    def of(
        cls,
        *,
        registry: Registry | None,
        limits: Limits | None,
        root: Referenceable | None,
        send_tracebacks: bool,
        ssl: _ssl.SSLContext | None,
    ) -> Options:
        """Options from the public keyword arguments, where None means the default."""
        return cls(
            registry=registry if registry is not None else Registry(),
            limits=limits if limits is not None else Limits(),
            root=root,
            send_tracebacks=send_tracebacks,
            ssl=ssl,
        )

    def tls_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``loop.create_server``/``create_connection`` for TLS."""
        if self.ssl is None:
            return {"ssl": None}
        return {"ssl": self.ssl, "ssl_handshake_timeout": self.limits.tls_handshake_timeout}
