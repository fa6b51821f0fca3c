"""Item 9 through the broker: what the decoder refuses, and what that refusal costs.

A refused *value* inside call arguments fails only that call (the broker answers a Fail with
InsecureTypeError by itself, see ``take_pending``) and the connection keeps working. A refused
*frame* (too large, malformed CBOR, too deep, trailing bytes) closes the connection.
"""

from __future__ import annotations

import dataclasses
import enum
import struct

import cbor2
import pytest

from pbtyped import (
    FrameTooLarge,
    InsecureTypeError,
    LimitExceeded,
    Limits,
    NoSuchMethod,
    Registry,
    RemoteProtocolError,
)
from pbtyped.protocol.events import AnswerReceived, CallReceived, FailureReceived
from pbtyped.wire import tags

from .wiring import Pair, Thing, decode_frames, exactly, frame, msg, open_broker


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


def registry() -> Registry:
    reg = Registry()
    reg.register_type(Point, "test.Point")
    reg.register_type(Color, "test.Color")
    return reg


def refused_call_answer(qid: int, why: str) -> list[object]:
    """The Fail the broker sends by itself when a value in the arguments is refused."""
    return [
        3,
        qid,
        {
            "type": "pbtyped.InsecureTypeError",
            "message": f"arguments refused: {why}",
            "registered": True,
        },
    ]


def call_with_args(qid: int, args_cbor: bytes) -> bytes:
    """A CALL of root.echo whose argument array is the raw CBOR ``args_cbor``."""
    head = cbor2.dumps([1, qid, [0, 0], "echo"])
    # Patch the array header from 4 to 6 items and splice the hand-made arguments in.
    return frame(b"\x86" + head[1:] + args_cbor + b"\xa0")


def call_with_arg(qid: int, arg_cbor: bytes) -> bytes:
    """A CALL of root.echo whose single argument is the raw CBOR ``arg_cbor``."""
    return call_with_args(qid, b"\x81" + arg_cbor)


def assert_echo_works(broker, qid: int = 1000) -> None:  # type: ignore[no-untyped-def]
    [event] = broker.receive_data(msg(1, qid, [0, 0], "echo", ["ok"], {}))
    assert isinstance(event, CallReceived)
    assert event.args == ["ok"]


# -- frame size: refused from the header alone ---------------------------------------------------


def test_oversized_frame_refused_from_the_header_alone() -> None:
    broker = open_broker(limits=Limits(max_frame_size=1024))
    header = struct.pack(">II", 1025, 0)  # no body byte follows: none is needed
    with pytest.raises(
        FrameTooLarge,
        match=exactly(
            "peer announced a frame of 1025 bytes; the limit is 1024 (Limits.max_frame_size)"
        ),
    ):
        broker.receive_data(header)


def test_frame_size_counts_body_and_attachments() -> None:
    broker = open_broker(limits=Limits(max_frame_size=1024))
    with pytest.raises(
        FrameTooLarge,
        match=exactly(
            "peer announced a frame of 1025 bytes; the limit is 1024 (Limits.max_frame_size)"
        ),
    ):
        broker.receive_data(struct.pack(">II", 25, 1000))


def test_oversized_body_refused_from_the_header_alone() -> None:
    broker = open_broker(limits=Limits(max_frame_size=1 << 20, max_body_size=2048))
    with pytest.raises(
        FrameTooLarge,
        match=exactly(
            "peer announced a message body of 2049 bytes; the limit is 2048 (Limits.max_body_size)"
        ),
    ):
        broker.receive_data(struct.pack(">II", 2049, 0))


def test_frame_at_the_limit_waits_for_its_body() -> None:
    broker = open_broker(limits=Limits(max_frame_size=1024))
    assert broker.receive_data(struct.pack(">II", 1024, 0)) == []
    assert broker.has_partial_frame


def test_frame_split_across_reads_is_reassembled() -> None:
    broker = open_broker()
    data = msg(1, 1, [0, 0], "echo", ["x"], {}) + msg(1, 2, [0, 0], "echo", ["y"], {})
    events = []
    for i in range(len(data)):
        events += broker.receive_data(data[i : i + 1])
    assert [(e.question_id, e.args) for e in events] == [(1, ["x"]), (2, ["y"])]


# -- tags refused inside call arguments: only that call fails ------------------------------------

#: What a refusal of an unknown wire name tells the side that lacks it (a schema module
#: this process has not loaded: named by the wire name's module part).
ADVICE = (
    ': that side must pass the REGISTRY of the module pbtyped generate made from schema "{}" '
    "(if it is one) to connect() or serve(), or call through its generated stubs, which "
    "bring it"
)

REFUSED_ARGS = {
    "28 shared value": (bytes.fromhex("d81c8101"), "CBOR tag 28 is not allowed"),
    "29 shared ref": (bytes.fromhex("d81d00"), "CBOR tag 29 is not allowed"),
    "35 regex": (cbor2.dumps(cbor2.CBORTag(35, "(a+)+$")), "CBOR tag 35 is not allowed"),
    "36 MIME": (
        cbor2.dumps(cbor2.CBORTag(36, "Content-Type: text/plain\n\nhi")),
        "CBOR tag 36 is not allowed",
    ),
    # The string-ref namespace (256) wraps a use (25): the inner one is met first.
    "256 string-ref namespace": (
        bytes.fromhex("d90100")
        + bytes.fromhex("82")
        + cbor2.dumps("aaaa")
        + bytes.fromhex("d81900"),
        "CBOR tag 25 is not allowed",
    ),
    "256 alone": (bytes.fromhex("d90100") + cbor2.dumps("a"), "CBOR tag 256 is not allowed"),
    "25 string ref": (bytes.fromhex("d81900"), "CBOR tag 25 is not allowed"),
    "99999 unknown": (cbor2.dumps(cbor2.CBORTag(99999, 1)), "CBOR tag 99999 is not allowed"),
    "55799 self-described": (cbor2.dumps(cbor2.CBORTag(55799, 1)), "CBOR tag 55799 is not allowed"),
    "41005 answer ref (reserved)": (
        cbor2.dumps(cbor2.CBORTag(tags.ANSWER_REF, [1, []])),
        "CBOR tag 41005 is not allowed",
    ),
    "41007 stream, not negotiated": (
        cbor2.dumps(cbor2.CBORTag(tags.STREAM, 1)),
        "a stream arrived, but streams were not negotiated",
    ),
    "unknown type name": (
        cbor2.dumps(cbor2.CBORTag(tags.COPY, ["os.system", ["true"]])),
        'type name "os.system" is not registered on the receiving side (refused)'
        + ADVICE.format("os"),
    ),
    "enum name as a type": (
        cbor2.dumps(cbor2.CBORTag(tags.COPY, ["test.Color", []])),
        # Registered, as an enum: no registry to pass.
        'type name "test.Color" is not registered on the receiving side (refused)',
    ),
    "malformed copy": (
        cbor2.dumps(cbor2.CBORTag(tags.COPY, "test.Point")),
        "malformed copy: expected [type name, [field values]]",
    ),
    "copy with missing field": (
        cbor2.dumps(cbor2.CBORTag(tags.COPY, ["test.Point", [1]])),
        "test.Point: expected 2 field values (x, y)",
    ),
    "copy with extra field": (
        cbor2.dumps(cbor2.CBORTag(tags.COPY, ["test.Point", [1, 2, 3]])),
        "test.Point: expected 2 field values (x, y)",
    ),
    "copy with fields as a map": (
        cbor2.dumps(cbor2.CBORTag(tags.COPY, ["test.Point", {"x": 1, "y": 2}])),
        "test.Point: expected 2 field values (x, y)",
    ),
    "unknown enum name": (
        cbor2.dumps(cbor2.CBORTag(tags.ENUM, ["evil.Enum", 1])),
        'enum name "evil.Enum" is not registered on the receiving side (refused)'
        + ADVICE.format("evil"),
    ),
    "type name as an enum": (
        cbor2.dumps(cbor2.CBORTag(tags.ENUM, ["test.Point", 1])),
        'enum name "test.Point" is not registered on the receiving side (refused)',
    ),
    "enum value not a member": (
        cbor2.dumps(cbor2.CBORTag(tags.ENUM, ["test.Color", "purple"])),
        'test.Color: "purple" is not a member',
    ),
    "malformed enum": (
        cbor2.dumps(cbor2.CBORTag(tags.ENUM, "test.Color")),
        "malformed enum: expected [type name, value]",
    ),
    "malformed tuple": (
        cbor2.dumps(cbor2.CBORTag(tags.TUPLE, 5)),
        "malformed tuple: expected an array",
    ),
    "attachment beyond the section": (
        cbor2.dumps(cbor2.CBORTag(tags.ATTACHMENT, [0, 10])),
        "attachment reference out of the frame's attachment section",
    ),
    "malformed attachment": (
        cbor2.dumps(cbor2.CBORTag(tags.ATTACHMENT, [-1, 0])),
        "attachment reference out of the frame's attachment section",
    ),
    "receiver ref never given": (
        cbor2.dumps(cbor2.CBORTag(tags.RECEIVER_REF, 99)),
        "reference #99 was never given on this connection or was released",
    ),
    "sender ref negative": (
        cbor2.dumps(cbor2.CBORTag(tags.SENDER_REF, -1)),
        "malformed reference id -1",
    ),
    "sender ref not an int": (
        cbor2.dumps(cbor2.CBORTag(tags.SENDER_REF, "1")),
        'malformed reference id "1"',
    ),
}


@pytest.mark.parametrize("case", list(REFUSED_ARGS))
def test_refused_value_in_args_fails_only_that_call(case: str) -> None:
    arg, why = REFUSED_ARGS[case]
    broker = open_broker(registry=registry())
    assert broker.receive_data(call_with_arg(7, arg)) == []
    assert decode_frames(broker.take_pending()) == [refused_call_answer(7, why)]
    assert_echo_works(broker)
    assert_echo_works(broker, qid=7)  # the refused call's id is free again


def test_caller_sees_the_refusal_as_insecure_type_error() -> None:
    pair = Pair()
    qid, _ = pair.a.send_call(pair.root_ref(), "echo", ("placeholder",), {})
    pair.send_to_b(call_with_arg(qid, cbor2.dumps(cbor2.CBORTag(35, "(a+)+$"))))
    pair.pump()
    [event] = pair.a_events
    assert isinstance(event, FailureReceived)
    assert type(event.error) is InsecureTypeError
    assert str(event.error) == "arguments refused: CBOR tag 35 is not allowed"
    assert pair.a.pending_questions == 0
    assert pair.value(pair.root_ref(), "echo", "after") == "after"


def test_first_refusal_in_a_call_is_the_one_reported() -> None:
    broker = open_broker()
    args = cbor2.dumps([cbor2.CBORTag(35, "x"), cbor2.CBORTag(36, "y")])
    assert broker.receive_data(call_with_args(4, args)) == []
    assert decode_frames(broker.take_pending()) == [
        refused_call_answer(4, "CBOR tag 35 is not allowed")
    ]


def test_refused_value_in_kwargs_fails_only_that_call() -> None:
    broker = open_broker()
    body = cbor2.dumps([1, 3, [0, 0], "echo", [], {"value": cbor2.CBORTag(29, 0)}])
    assert broker.receive_data(frame(body)) == []
    assert decode_frames(broker.take_pending()) == [
        refused_call_answer(3, "CBOR tag 29 is not allowed")
    ]
    assert_echo_works(broker)


def test_refused_value_in_an_answer_fails_only_that_call() -> None:
    pair = Pair()
    qid, _ = pair.a.send_call(pair.root_ref(), "echo", ("x",), {})
    [event] = pair.a.receive_data(msg(2, qid, ["fine", cbor2.CBORTag(36, "From: x\n\nbody")]))
    assert isinstance(event, FailureReceived)
    assert type(event.error) is InsecureTypeError
    assert str(event.error) == "the answer could not be decoded: CBOR tag 36 is not allowed"
    assert pair.a.pending_questions == 0
    assert pair.value(pair.root_ref(), "echo", "after") == "after"


def test_refused_tag_as_question_id_closes() -> None:
    # Where the message structure itself is refused, there is no call to fail.
    broker = open_broker()
    with pytest.raises(
        RemoteProtocolError,
        match=exactly("question id must be a non-negative integer, got <refused value>"),
    ):
        broker.receive_data(msg(1, cbor2.CBORTag(99999, 1), [0, 0], "echo", [], {}))


def test_refused_tag_as_whole_message_closes() -> None:
    broker = open_broker()
    with pytest.raises(
        RemoteProtocolError, match=exactly("a message must be an array starting with its kind")
    ):
        broker.receive_data(frame(cbor2.dumps(cbor2.CBORTag(28, [1, 1, [0, 0], "echo", []]))))


# -- malformed frames: the connection closes -------------------------------------------------------


def test_maximum_depth_exceeded_closes() -> None:
    broker = open_broker()
    deep = b"\x81" * 70 + b"\x01"
    with pytest.raises(
        RemoteProtocolError,
        match=exactly("malformed CBOR: maximum container nesting depth (64) exceeded"),
    ):
        broker.receive_data(call_with_arg(1, deep))


def test_depth_counts_tags_too() -> None:
    broker = open_broker()
    deep = bytes.fromhex("d9a02a81") * 40 + b"\x01"  # 40 nested tuples: 80 levels
    with pytest.raises(
        RemoteProtocolError,
        match=exactly("malformed CBOR: maximum container nesting depth (64) exceeded"),
    ):
        broker.receive_data(call_with_arg(1, deep))


def test_depth_limit_counts_every_container_of_the_message() -> None:
    # max_depth=8: the message array and the argument array are two levels, so an argument
    # may nest 6 more arrays, not 7.
    broker = open_broker(limits=Limits(max_depth=8))
    [event] = broker.receive_data(call_with_arg(1, b"\x81" * 6 + b"\x01"))
    assert isinstance(event, CallReceived)
    assert event.args == [[[[[[[1]]]]]]]
    with pytest.raises(
        RemoteProtocolError,
        match=exactly("malformed CBOR: maximum container nesting depth (8) exceeded"),
    ):
        broker.receive_data(call_with_arg(2, b"\x81" * 7 + b"\x01"))


def test_trailing_bytes_after_the_message_close() -> None:
    broker = open_broker()
    body = cbor2.dumps([1, 1, [0, 0], "echo", ["x"], {}]) + b"\x00\x00"
    with pytest.raises(RemoteProtocolError, match=exactly("2 trailing bytes after the message")):
        broker.receive_data(frame(body))


def test_truncated_message_closes() -> None:
    broker = open_broker()
    body = cbor2.dumps([1, 1, [0, 0], "echo", ["x"], {}])[:-2]
    with pytest.raises(
        RemoteProtocolError,
        match=exactly(
            "malformed CBOR: premature end of stream (expected to read at least 1 bytes, "
            "got 0 instead)"
        ),
    ):
        broker.receive_data(frame(body))


@pytest.mark.parametrize(
    ("item", "what"),
    [
        (bytes.fromhex("9f01ff"), "array"),
        (bytes.fromhex("bf616101ff"), "map"),
        (bytes.fromhex("5f4101ff"), "byte string"),
        (bytes.fromhex("7f6161ff"), "text string"),
    ],
)
def test_indefinite_length_items_close(item: bytes, what: str) -> None:
    broker = open_broker()
    with pytest.raises(
        RemoteProtocolError,
        match=exactly(
            f"malformed CBOR: error decoding {what}: encountered indefinite length but it has "
            "been disabled"
        ),
    ):
        broker.receive_data(call_with_arg(1, item))


def test_non_utf8_text_closes() -> None:
    broker = open_broker()
    with pytest.raises(
        RemoteProtocolError,
        match=exactly(
            "malformed CBOR: error decoding text string ('utf-8' codec can't decode byte 0xc3 "
            "in position 0: invalid continuation byte)"
        ),
    ):
        broker.receive_data(call_with_arg(1, bytes.fromhex("62c328")))


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            cbor2.dumps({1: "a"}),
            "error decoding map: map key must be a text string or byte string, not int",
        ),
        (
            cbor2.dumps(cbor2.CBORTag(258, [1, 2])),
            "error decoding semantic tag 258 (set element must be a text string or byte "
            "string (Limits.strict_map_keys), got integer)",
        ),
    ],
    ids=["int map key", "set of ints"],
)
def test_strict_keys_refuse_non_string_keys_and_close(item: bytes, message: str) -> None:
    broker = open_broker()
    with pytest.raises(RemoteProtocolError, match=exactly(f"malformed CBOR: {message}")):
        broker.receive_data(call_with_arg(1, item))


def test_malformed_builtin_tag_content_closes() -> None:
    broker = open_broker()
    with pytest.raises(
        RemoteProtocolError,
        match=exactly(
            "malformed CBOR: error decoding semantic tag 0 (tag 0 must hold an RFC 3339 "
            'date-time, got "yesterday")'
        ),
    ):
        broker.receive_data(call_with_arg(1, cbor2.dumps(cbor2.CBORTag(0, "yesterday"))))


# -- oversized outgoing calls fail locally, before anything is sent --------------------------------


def test_oversized_call_fails_locally_and_leaks_nothing() -> None:
    pair = Pair(b_limits=Limits(max_frame_size=4096))
    root = pair.root_ref()
    exports_before = pair.a.export_count
    big = "x" * 5000
    ref = cbor2.CBORTag(tags.SENDER_REF, [1, []])  # the first reference names its interfaces
    expected_body = cbor2.dumps([1, 1, [0, 0], "echo", [ref, big]])
    with pytest.raises(
        FrameTooLarge,
        match=exactly(
            f"message of {len(expected_body)} bytes exceeds the peer's limit of 4096 bytes; "
            "nothing was sent"
        ),
    ):
        pair.a.send_call(root, "echo", (Thing(), big), {})
    assert pair.a.pending_questions == 0
    assert pair.a.export_count == exports_before
    assert pair.a.take_pending() == b""
    # The next call works and takes the question id the failed call did not use.
    qid, data = pair.a.send_call(root, "echo", ("small",), {})
    assert qid == 1
    pair.send_to_b(data)
    pair.pump()
    assert pair.a_events == [AnswerReceived(question_id=1, value="small")]


def test_oversized_call_body_fails_locally_even_if_the_frame_would_fit() -> None:
    pair = Pair(b_limits=Limits(max_frame_size=1 << 20, max_body_size=2048))
    big = "y" * 3000
    body = cbor2.dumps([1, 1, [0, 0], "echo", [big]])
    with pytest.raises(
        FrameTooLarge,
        match=exactly(
            f"message body of {len(body)} bytes exceeds the peer's limit of 2048 bytes; nothing "
            "was sent (large bytes values travel outside the body)"
        ),
    ):
        pair.a.send_call(pair.root_ref(), "echo", (big,), {})
    assert pair.a.pending_questions == 0
    # Large bytes travel as an attachment, outside the body: that call fits.
    blob = bytes(range(256)) * 400
    assert pair.value(pair.root_ref(), "echo", blob) == blob


def test_oversized_result_becomes_a_failure_of_that_call() -> None:
    """The caller's own limit refused the result: it gets LimitExceeded, the error that names
    a limit (before: InsecureTypeError, which is about types)."""
    pair = Pair(a_limits=Limits(max_frame_size=4096))
    qid, data = pair.a.send_call(pair.root_ref(), "echo", ("x",), {})
    [call] = pair.b.receive_data(data)
    out = pair.b.send_return(call.question_id, "z" * 5000)
    [answer] = decode_frames(out)
    assert answer[:2] == [3, qid]
    assert answer[2]["type"] == "pbtyped.LimitExceeded"
    assert answer[2]["message"].startswith("the result could not be sent: message of ")
    assert answer[2]["message"].endswith(
        "bytes exceeds the peer's limit of 4096 bytes; nothing was sent (the calling side's "
        "Limits.max_frame_size and max_body_size bound it)"
    )
    [event] = pair.a.receive_data(out)
    assert isinstance(event, FailureReceived)
    assert type(event.error) is LimitExceeded


TINY = Limits(max_frame_size=64, max_body_size=64)


class Wordy(Exception):
    """An error whose wire name alone is too long for a 64-byte frame."""


def wordy_registry() -> Registry:
    registry = Registry()
    registry.register_error(Wordy, "a" * 60 + ".Wordy")
    return registry


@pytest.mark.parametrize(
    ("result", "error", "message"),
    [
        ("z" * 100, "pbtyped.LimitExceeded", ""),  # its own cut message would not fit either
        (NoSuchMethod("x"), "pbtyped.NoSuchMethod", "x"),
        (NoSuchMethod("y" * 300), "pbtyped.NoSuchMethod", ""),
        (Wordy("w"), "pbtyped.LimitExceeded", ""),
    ],
    ids=["result", "short error", "long error", "long type name"],
)
def test_every_fail_fits_a_peer_at_the_smallest_limits(
    result: object, error: str, message: str
) -> None:
    """A peer may announce 64 bytes. Before: the FAIL for a result over that limit (163
    bytes) went out anyway, and the peer closed the connection on it."""
    pair = Pair(a_limits=TINY, registry=wordy_registry())
    qid, data = pair.a.send_call(pair.root_ref(), "echo", (), {})
    [call] = pair.b.receive_data(data)
    if isinstance(result, Exception):
        out = pair.b.send_failure(call.question_id, result)
    else:
        out = pair.b.send_return(call.question_id, result)
    assert len(out) - 8 <= 64
    [answer] = decode_frames(out)
    assert answer[:2] == [3, qid]
    assert (answer[2]["type"], answer[2]["message"]) == (error, message)
    [event] = pair.a.receive_data(out)  # the caller reads it: the line stays open
    assert isinstance(event, FailureReceived)
    assert pair.a.is_open


def test_a_fail_cut_to_fit_keeps_the_start_of_its_message() -> None:
    pair = Pair(a_limits=Limits(max_frame_size=300, max_body_size=300))
    _, data = pair.a.send_call(pair.root_ref(), "echo", (), {})
    [call] = pair.b.receive_data(data)
    out = pair.b.send_failure(call.question_id, NoSuchMethod("y" * 1000))
    [answer] = decode_frames(out)
    assert answer[2]["message"] == "y" * 200 + " [cut: too long for the peer's limit]"
