"""Every exception pbtyped raises, in one place.

Each class says when it is raised and what to do about it. Errors that a remote peer caused
(``RemoteProtocolError``) are kept apart from errors in how this process used the API
(``LocalProtocolError``), and both apart from application errors (``Error`` subclasses).

One ``except PbtypedError`` around a remote call catches every way it can fail: the remote
method raised (``Error`` subclasses, ``RemoteError``), the line broke (``ConnectionLost``,
``DeadReferenceError``), the time ran out (``CallTimeout``, also a ``TimeoutError``), a limit
or a check refused it (``LimitExceeded``, ``ValidationError``, ``InsecureTypeError``...).
Application errors stay catchable by their own class first. (An error class registered
without deriving from ``Error``, say ``KeyError``, arrives as itself: catch it by name.)
"""

from __future__ import annotations

__all__ = [
    "CallCancelled",
    "CallTimeout",
    "ConnectionLost",
    "DeadReferenceError",
    "DecodeError",
    "Error",
    "FrameTooLarge",
    "GoingAway",
    "InsecureTypeError",
    "LimitExceeded",
    "LocalProtocolError",
    "NoSuchMethod",
    "PbtypedError",
    "ProtocolError",
    "RemoteError",
    "RemoteProtocolError",
    "UnauthorizedLogin",
    "ValidationError",
]


class PbtypedError(Exception):
    """Base class of the framework's own errors (not of application errors)."""


class Error(PbtypedError):
    """Base class for *expected* application errors that may cross the wire.

    Raise a subclass from a ``remote_*`` method to tell the caller something went wrong in a
    way you anticipated. Register the subclass on the registry of both peers
    (``Registry.register_error``) and the caller receives an instance of the same class with the
    same message. Expected errors are not logged as server faults.
    """

    #: Traceback text of the remote side, only when the server opted in (``send_tracebacks``).
    remote_traceback: str | None = None


class RemoteError(Error):
    """The remote method raised an exception whose class this side has not registered.

    ``remote_type`` is the remote class's name and ``message`` its message. Catch it as the
    generic "something else happened" case; register the class on both sides to catch it by type.
    When the peer registered the class, the text says which registry to pass for that.
    """

    def __init__(
        self,
        remote_type: str,
        message: str,
        remote_traceback: str | None = None,
        *,
        hint: str | None = None,
    ):
        # ``hint``: what to pass to catch it by class, when the peer registered it.
        super().__init__(f"{remote_type}: {message}" + (f" ({hint})" if hint else ""))
        #: The wire name of the remote exception's class (``"shop.OutOfStock"``).
        self.remote_type = remote_type
        #: The remote exception's message.
        self.message = message
        #: The remote traceback's text, when the peer opted in to sending it; else None.
        self.remote_traceback = remote_traceback


class NoSuchMethod(PbtypedError):
    """The remote object has no ``remote_<name>`` method with that name.

    Only ``remote_*`` methods can be called: check the method name (without the prefix).
    The connection stays usable.
    """


class InsecureTypeError(PbtypedError):
    """A value of a type that is not on the registry's allow-list was refused.

    Raised at the sender before anything is sent, or (for that call only) when the peer sent a
    type name or tag this side does not admit. Register the type on both peers with
    ``Registry.register_type``, or send a natively supported value instead.
    """


class LimitExceeded(PbtypedError):
    """A configured limit (a field of ``pbtyped.Limits``, named in the message) was reached.

    Only the call that hit it fails. Raise the limit if the traffic is legitimate.
    """


class ValidationError(PbtypedError):
    """A value did not match the declared type; the message says where (``$.args[1].name``)."""


class DecodeError(PbtypedError):
    """A message from the peer could not be decoded; the message says why."""


class DeadReferenceError(PbtypedError):
    """The reference cannot be used: its connection is closed or it was released.

    Raised at once, before anything is sent. Get a fresh reference over a live connection.
    """


class ConnectionLost(PbtypedError):
    """The connection dropped while the call was pending; whether it ran remotely is unknown.

    ``__cause__`` holds the underlying error when the network or the peer broke the line.
    ``connect()`` raises it too when the line fails before the handshake; when TLS is used on
    one side only, the message says which side to change.
    """


class GoingAway(PbtypedError):
    """The connection is going away (its peer sent GOODBYE: a server draining, or a peer
    closing normally), so this call was not started on it and did not run.

    Raised at once, by a call made after the GOODBYE arrived, and as the answer to a call
    the draining side read after it said GOODBYE. Safe to retry on another connection: a
    ``pbtyped.Reconnecting`` client waits for its next connection by itself.
    """


class CallCancelled(PbtypedError):
    """The caller cancelled the call; sent by a callee whose work was stopped."""


class CallTimeout(PbtypedError, TimeoutError):
    """A call got no answer within its ``timeout=`` (``pb_timeout=`` on stubs).

    The message names the method and the time. The peer was told to stop the work; whether
    any of it ran is unknown. ``except TimeoutError`` catches it too.
    """


class PeerNotReading(PbtypedError):
    """A one-way call (``RemoteReference.send``, a ``@pb.oneway`` stub method) was not sent:
    the peer does not read what this side sends (the transport paused writing), and a call
    that nobody awaits cannot wait for room.

    Nothing was sent. The peer is slow or stuck: try again later, make an ordinary call
    (which waits for room), or close that connection.
    """


class UnauthorizedLogin(PbtypedError):
    """A login was refused (``pbtyped.cred``): wrong user name or password, anonymous login
    not allowed, too many failed logins on this connection, or a server that could not prove
    it knows the password.

    The message never says whether the user exists. Check the credentials; after repeated
    failures, open a new connection.
    """


class ProtocolError(PbtypedError):
    """The pbtyped protocol was violated: never raised itself, only as one of its subclasses
    (LocalProtocolError: this side; RemoteProtocolError: the peer; FrameTooLarge: a frame
    over a size limit), which say who did it."""


class LocalProtocolError(ProtocolError):
    """This process misused the protocol API (a bug in the calling code), or sent what the
    peer does not take: a call the peer refused for a protocol reason (a FAIL of type
    ``pbtyped.ProtocolError``, e.g. a call on a pending answer to a peer without promise
    pipelining) fails with it, and only that call.
    """


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol forbids; that connection is closed."""


class FrameTooLarge(ProtocolError):
    """A frame is larger than the configured maximum (``Limits.max_frame_size``).

    Outbound, the call fails locally before anything is sent; inbound, the peer is disconnected.
    """
