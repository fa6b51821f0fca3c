"""TLS contexts with safe defaults for ``serve(..., ssl=)`` and ``connect(..., ssl=)``.

Plain ``ssl.SSLContext`` objects: use your own instead if you need other settings. A client
whose certificate fails verification (or a server whose certificate does) never gets a
pbtyped connection: the TLS handshake fails before the first pbtyped byte.
"""

from __future__ import annotations

import ssl
from os import PathLike

__all__ = ["client_context", "server_context"]

_Path = str | PathLike[str]


def server_context(
    certfile: _Path, keyfile: _Path | None = None, *, client_ca: _Path | None = None
) -> ssl.SSLContext:
    """A server context presenting ``certfile``; TLS 1.2 or later.

    With ``client_ca`` (a PEM file of the CAs that sign client certificates), every client
    must present a certificate they signed (mutual TLS).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    if client_ca is not None:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(
    cafile: _Path | None = None, *, certfile: _Path | None = None, keyfile: _Path | None = None
) -> ssl.SSLContext:
    """A client context that verifies the server's certificate and host name.

    ``cafile`` names the CAs to trust (default: the system's); ``certfile``/``keyfile`` are our
    certificate for servers that require one.
    """
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if certfile is not None:
        context.load_cert_chain(certfile, keyfile)
    return context
