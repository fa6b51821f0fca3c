"""The public API is exactly what ``pbtyped.__all__`` lists, and every name is documented."""

from __future__ import annotations

import inspect

import pbtyped as pb

RUNTIME_NAMES = {
    "CallCancelled",
    "CallTimeout",
    "Client",
    "Connection",
    "ConnectionLost",
    "DeadReferenceError",
    "DecodeError",
    "Error",
    "FrameTooLarge",
    "InsecureTypeError",
    "LimitExceeded",
    "Limits",
    "LocalProtocolError",
    "NoSuchMethod",
    "PbtypedError",
    "Promise",
    "Promised",
    "ProtocolError",
    "Referenceable",
    "Registry",
    "RemoteError",
    "RemoteProtocolError",
    "RemoteReference",
    "Root",
    "Server",
    "Stub",
    "ValidationError",
    "connect",
    "serve",
}


def test_all_is_sorted_and_complete() -> None:
    assert pb.__all__ == sorted(pb.__all__)
    assert RUNTIME_NAMES <= set(pb.__all__)
    for name in pb.__all__:
        assert hasattr(pb, name), name


def test_every_public_name_has_a_docstring() -> None:
    for name in pb.__all__:
        obj = getattr(pb, name)
        assert inspect.getdoc(obj), f"pbtyped.{name} has no docstring"


def test_exceptions_form_one_documented_hierarchy() -> None:
    assert issubclass(pb.RemoteError, pb.Error)
    for name in ("NoSuchMethod", "InsecureTypeError", "DeadReferenceError", "ConnectionLost"):
        assert issubclass(getattr(pb, name), pb.PbtypedError)
    assert issubclass(pb.RemoteProtocolError, pb.ProtocolError)
    assert issubclass(pb.LocalProtocolError, pb.ProtocolError)
    # One except clause catches every failure of a remote call (issue 11).
    assert issubclass(pb.Error, pb.PbtypedError)
    assert issubclass(pb.CallTimeout, pb.PbtypedError)
    assert issubclass(pb.CallTimeout, TimeoutError)
