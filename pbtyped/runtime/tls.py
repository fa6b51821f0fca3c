"""TLS on one side only, seen from the side that uses it.

A plain line's side of the mismatch is told by the first bytes it receives (see
``Connection._tls_mismatch``). The TLS side never sees those bytes: its TLS layer reads them
and fails the handshake. A client gets that failure from ``connect()``: ``handshake_failure``
turns it into ConnectionLost saying what to change. A server's application is told nothing
(asyncio drops the socket before ``connection_made`` and logs only in debug mode), so
``watch_handshakes`` has the server's TLS context report every failed handshake through the
server's rate-limited log, by way of ``SSLContext.sslobject_class``: public API, the class
whose ``do_handshake`` asyncio's TLS layer calls, and the one place the failure is seen
before it is dropped, whatever the event loop. Peeking at the first bytes before the TLS
handshake would tell more surely, but would take the accepting of every TLS socket away
from asyncio's own TLS layer.
"""

from __future__ import annotations

import ssl
from typing import Any

from .._exceptions import ConnectionLost
from .logs import LogLimiter

__all__ = ["NOT_TLS", "handshake_failure", "watch_handshakes"]

#: OpenSSL's reasons for a handshake whose peer sent bytes that are not TLS at all (they
#: differ between OpenSSL versions; an HTTP request has its own).
NOT_TLS = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "UNKNOWN_PROTOCOL",
        "HTTP_REQUEST",
        "HTTPS_PROXY_REQUEST",
        "PACKET_LENGTH_TOO_LONG",
        "RECORD_LAYER_FAILURE",
        "UNEXPECTED_RECORD",
        "WRONG_SSL_VERSION",
    }
)


def handshake_failure(exc: ssl.SSLError) -> ConnectionLost | None:
    """What ``connect(ssl=...)`` raises when its TLS handshake failed because the server
    does not speak TLS; None for any other failure (a certificate refused, say), which is
    raised as it is."""
    if exc.reason not in NOT_TLS:
        return None
    return ConnectionLost(
        f"the TLS handshake failed ({exc.reason}): the server does not speak TLS; drop ssl= "
        "from connect(), or start the server with ssl=pbtyped.cred.server_context(...)"
    )


def watch_handshakes(context: ssl.SSLContext, logs: LogLimiter) -> None:
    """Have ``context`` log, through ``logs``, the clients whose TLS handshake fails; a
    context whose ``sslobject_class`` is already the user's own is left alone."""
    if context.sslobject_class is not ssl.SSLObject and not issubclass(
        context.sslobject_class, _WatchedSSLObject
    ):
        return

    class Watched(_WatchedSSLObject):
        __slots__ = ()
        pb_logs = logs

    context.sslobject_class = Watched


class _WatchedSSLObject(ssl.SSLObject):
    """An SSLObject that logs why a handshake failed, naming a client without TLS as such."""

    pb_logs: LogLimiter

    def do_handshake(self) -> Any:
        try:
            return super().do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise  # more bytes to come: not a failure
        except ssl.SSLError as exc:
            if exc.reason in NOT_TLS:
                self.pb_logs.warning(
                    "a client spoke without TLS to this TLS server (%s): it must pass "
                    "ssl=pbtyped.cred.client_context(...) to connect()",
                    exc.reason,
                )
            else:
                self.pb_logs.warning("a client's TLS handshake failed: %s", exc)
            raise
