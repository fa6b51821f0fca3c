"""Errors as they cross: names and text only (ErrorInfo), tracebacks only when opted in."""

from __future__ import annotations

from pbtyped import (
    CallCancelled,
    Error,
    InsecureTypeError,
    Limits,
    NoSuchMethod,
    Registry,
    RemoteError,
)
from pbtyped.protocol.events import FailureReceived

from .wiring import Echoer, Pair, decode_frames, msg


class Refusal(Error):
    """An expected, registered application error."""

    def __init__(self, code: int, text: str) -> None:  # __init__ the wire never calls
        super().__init__(text)
        self.code = code


class Failing(Echoer):
    def remote_refuse(self) -> None:
        raise Refusal(7, "not today")

    def remote_relay(self) -> None:
        # What a method does that lets a callback's unregistered error through.
        raise RemoteError("builtins.KeyError", "'hunter2'")

    def remote_crash(self) -> None:
        secret = "hunter2"  # a local that must never leak
        raise KeyError(secret)

    def remote_huge(self, size: int) -> None:
        raise ValueError("x" * size)


def registry() -> Registry:
    reg = Registry()
    reg.register_error(Refusal, "shop.Refusal")
    return reg


def failure(pair: Pair, method: str, *args: object) -> BaseException:
    event = pair.call(pair.root_ref(), method, *args)
    assert isinstance(event, FailureReceived)
    return event.error


def fail_message_of(pair: Pair, method: str, *args: object) -> object:
    """The FAIL message ``b`` sends for ``method``, as it is on the wire."""
    _, data = pair.a.send_call(pair.root_ref(), method, args, {})
    [call] = pair.b.receive_data(data)
    try:
        call.target.pb_dispatch(call.method, call.args, call.kwargs)
    except Exception as exc:
        out = pair.b.send_failure(call.question_id, exc)
    else:
        raise AssertionError("the method did not raise")
    pair.send_to_a(out)
    pair.pump()
    [message] = decode_frames(out)
    return message


def test_registered_error_wire_form_and_class() -> None:
    pair = Pair(root=Failing(), registry=registry())
    assert fail_message_of(pair, "refuse") == [
        3,
        1,
        {"type": "shop.Refusal", "message": "not today", "registered": True},
    ]
    error = failure(pair, "refuse")
    assert type(error) is Refusal
    assert str(error) == "not today"
    assert error.remote_traceback is None


def test_unregistered_error_arrives_as_remote_error_with_its_type_name() -> None:
    pair = Pair(root=Failing(), registry=registry())
    assert fail_message_of(pair, "crash") == [
        3,
        1,
        {"type": "builtins.KeyError", "message": "'hunter2'"},
    ]
    error = failure(pair, "crash")
    assert type(error) is RemoteError
    assert (error.remote_type, error.message) == ("builtins.KeyError", "'hunter2'")
    assert error.remote_traceback is None


def test_registered_on_the_callee_only_arrives_as_remote_error() -> None:
    pair = Pair(root=Failing(), a_registry=Registry(), b_registry=registry())
    error = failure(pair, "refuse")
    assert type(error) is RemoteError
    assert (error.remote_type, error.message) == ("shop.Refusal", "not today")
    # The peer registered it: the error says what this side would pass to catch it by class.
    assert str(error) == (
        "shop.Refusal: not today (registered by the peer, not here: pass the REGISTRY of the "
        'module pbtyped generate made from schema "shop" (if it is one) to connect() or '
        "serve(), or call through its generated stubs, which bring it)"
    )


def test_framework_errors_are_registered_everywhere() -> None:
    pair = Pair()
    error = failure(pair, "no_such_thing")
    assert type(error) is NoSuchMethod
    assert str(error) == 'Echoer has no remote method "no_such_thing"'
    for name, cls in [
        ("pbtyped.CallCancelled", CallCancelled),
        ("pbtyped.InsecureTypeError", InsecureTypeError),
    ]:
        qid, _ = pair.a.send_call(pair.root_ref(), "echo", (1,), {})
        [event] = pair.a.receive_data(
            msg(3, qid, {"type": name, "message": "m", "registered": True})
        )
        assert type(event.error) is cls


def test_traceback_only_when_opted_in() -> None:
    quiet = Pair(root=Failing(), registry=registry())
    assert "traceback" not in fail_message_of(quiet, "crash")[2]
    loud = Pair(root=Failing(), registry=registry(), b_tracebacks=True)
    info = fail_message_of(loud, "crash")[2]
    assert info["traceback"].startswith("Traceback (most recent call last):")
    assert info["traceback"].endswith("KeyError: 'hunter2'\n")
    error = failure(loud, "refuse")
    assert type(error) is Refusal
    assert "Refusal: not today" in error.remote_traceback
    remote = failure(loud, "crash")
    assert type(remote) is RemoteError
    assert "remote_crash" in remote.remote_traceback


def test_long_messages_are_cut_at_16_kib() -> None:
    pair = Pair(root=Failing())
    info = fail_message_of(pair, "huge", 100_000)[2]
    assert info["message"] == "x" * 16384 + "..."
    assert failure(pair, "huge", 100_000).message == "x" * 16384 + "..."


def test_huge_traceback_costs_only_that_call() -> None:
    pair = Pair(root=Failing(), b_tracebacks=True)
    error = failure(pair, "huge", 300_000)
    assert type(error) is RemoteError


def test_failure_larger_than_the_peer_limit_costs_only_that_call() -> None:
    pair = Pair(root=Failing(), a_limits=Limits(max_frame_size=1024))
    error = failure(pair, "huge", 2000)
    assert type(error) is RemoteError


def test_a_relayed_error_keeps_its_type_and_message_once() -> None:
    """Issue 11: relayed by a server, a client callback's error arrived wrapped twice
    (``RemoteError: pbtyped.RemoteError: builtins.KeyError: 'hunter2'``)."""
    pair = Pair(root=Failing(), registry=registry())
    error = failure(pair, "relay")
    assert type(error) is RemoteError
    assert (error.remote_type, error.message) == ("builtins.KeyError", "'hunter2'")
    assert str(error) == "builtins.KeyError: 'hunter2'"
