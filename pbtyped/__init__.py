"""pbtyped: typed, capability-style remote objects for asyncio, in the spirit of Twisted PB.

Everything public is re-exported here; submodules are implementation details.
"""

from __future__ import annotations

from ._exceptions import (
    CallCancelled,
    CallTimeout,
    ConnectionLost,
    DeadReferenceError,
    DecodeError,
    Error,
    FrameTooLarge,
    GoingAway,
    InsecureTypeError,
    LimitExceeded,
    LocalProtocolError,
    NoSuchMethod,
    PbtypedError,
    PeerNotReading,
    ProtocolError,
    RemoteError,
    RemoteProtocolError,
    UnauthorizedLogin,
    ValidationError,
)
from .protocol.objects import Referenceable, Root
from .runtime.connection import Connection, current_connection
from .runtime.endpoints import Client, Server, connect, serve
from .runtime.promise import Promise, Promised
from .runtime.reconnecting import Backoff, Reconnecting
from .runtime.reference import RemoteReference, Stub
from .runtime.running import run, serve_until_signalled
from .typed.checks import MaxLen
from .typed.support import local_object, oneway
from .wire.limits import Limits
from .wire.registry import Registry

__all__ = [
    "Backoff",
    "CallCancelled",
    "CallTimeout",
    "Client",
    "Connection",
    "ConnectionLost",
    "DeadReferenceError",
    "DecodeError",
    "Error",
    "FrameTooLarge",
    "GoingAway",
    "InsecureTypeError",
    "LimitExceeded",
    "Limits",
    "LocalProtocolError",
    "MaxLen",
    "NoSuchMethod",
    "PbtypedError",
    "PeerNotReading",
    "Promise",
    "Promised",
    "ProtocolError",
    "Reconnecting",
    "Referenceable",
    "Registry",
    "RemoteError",
    "RemoteProtocolError",
    "RemoteReference",
    "Root",
    "Server",
    "Stub",
    "UnauthorizedLogin",
    "ValidationError",
    "connect",
    "current_connection",
    "local_object",
    "oneway",
    "run",
    "serve",
    "serve_until_signalled",
]

# Public names print as ``pbtyped.X`` (in reprs, tracebacks and error type names), not as
# the private module that defines them.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and _obj.__module__.startswith("pbtyped."):
        _obj.__module__ = "pbtyped"
del _name, _obj
