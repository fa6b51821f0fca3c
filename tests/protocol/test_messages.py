"""The message layer on its own: each kind's builder writes what its parser reads back.

The broker's behaviour on malformed messages is tested through ``receive_data`` in
test_hostile.py; these tests pin the contract between the two halves of messages.py.
"""

from __future__ import annotations

from typing import Any

import cbor2
import pytest

from pbtyped import RemoteProtocolError
from pbtyped.protocol import broker
from pbtyped.protocol import messages as m

from .wiring import exactly

_INFO = m.ErrorInfo(type_name="app.Refused", message="no", registered=True, traceback="tb")


@pytest.mark.parametrize(
    ("wire", "parse", "fields"),
    [
        (m.call_wire(7, 3, "echo", ["x"], {}), m.parse_call, (7, 3, "echo", ["x"], {}, None)),
        (
            m.call_wire(7, 0, "echo", [], {"k": 1}),
            m.parse_call,
            (7, 0, "echo", [], {"k": 1}, None),
        ),
        (
            m.pipelined_call_wire(
                8, m.AnswerTarget(question_id=7, path=("a", 2)), "echo", [], {}, {"retain": True}
            ),
            m.parse_call,
            (8, m.AnswerTarget(question_id=7, path=("a", 2)), "echo", [], {}, {"retain": True}),
        ),
        (m.return_wire(9, [1, "two"]), m.parse_return, (9, [1, "two"])),
        (m.fail_wire(9, _INFO), m.parse_fail, (9, _INFO)),
        (m.finish_wire(4), m.parse_finish, 4),
        (m.release_wire(5, 2), m.parse_release, (5, 2)),
        (m.abort_wire("bye"), m.parse_abort, "bye"),
        (
            m.hello_wire(m.Hello(version=1, max_frame_size=4096, features=("columns",))),
            m.parse_hello,
            m.Hello(version=1, max_frame_size=4096, features=("columns",)),
        ),
    ],
    ids=[
        "call",
        "call with kwargs",
        "pipelined call",
        "return",
        "fail",
        "finish",
        "release",
        "abort",
        "hello",
    ],
)
def test_each_parser_reads_what_its_builder_writes(
    wire: list[Any], parse: Any, fields: object
) -> None:
    # Through CBOR, as the peer receives it.
    raw = cbor2.loads(cbor2.dumps(wire))
    assert m.kind_of(raw) == wire[0]
    assert m.PARSERS[wire[0]] is parse
    assert parse(raw) == fields


def test_a_call_without_kwargs_is_sent_in_its_five_item_form() -> None:
    assert m.call_wire(1, 0, "echo", ["x"], {}) == [1, 1, [0, 0], "echo", ["x"]]


_IDS = [0, 1, 23, 24, 255, 256, 0xFFFF, 0x1_0000, 2**32 - 1, 2**32, m.MAX_ID]


@pytest.mark.parametrize("qid", _IDS)
@pytest.mark.parametrize("export_id", [0, 24, 2**32])
@pytest.mark.parametrize("method", ["e", "x" * 23, "x" * 24, "echo_" * 40])
def test_a_call_written_by_hand_is_the_bytes_cbor2_writes(
    qid: int, export_id: int, method: str
) -> None:
    # call_head and the arguments after it: byte for byte what call_wire's array encodes to.
    for args, kwargs in (([], {}), (["x", 1], {}), ([2.5], {"k": [1]})):
        head = m.call_head(qid, export_id, method, bool(kwargs))
        tail = cbor2.dumps(args) + (cbor2.dumps(kwargs) if kwargs else b"")
        assert head + tail == cbor2.dumps(m.call_wire(qid, export_id, method, args, kwargs))


@pytest.mark.parametrize("qid", _IDS)
def test_a_return_written_by_hand_is_the_bytes_cbor2_writes(qid: int) -> None:
    for value in (None, "hello", [1, {"a": b"x"}]):
        head = m.return_head(qid)
        assert head + cbor2.dumps(value) == cbor2.dumps(m.return_wire(qid, value))


def test_a_call_on_a_pending_answer_parses_to_an_answer_target() -> None:
    assert m.parse_call([1, 2, [1, 1], "echo", []]) == (
        2,
        m.AnswerTarget(question_id=1),
        "echo",
        [],
        {},
        None,
    )


def test_an_abort_reason_is_cut_when_sent() -> None:
    assert m.abort_wire("x" * 5000) == [6, "x" * m.MAX_ABORT_REASON]


def test_every_kind_has_a_parser_and_a_handler() -> None:
    # kind_of admits the kinds PARSERS has: each kind is parsed and handled.
    assert set(m.PARSERS) == set(m.Kind)
    assert set(broker._ON_MESSAGE) == set(m.Kind)


@pytest.mark.parametrize("kind", [-1, 15, 16, 2**70])
def test_kind_of_refuses_kinds_outside_the_protocol(kind: int) -> None:
    shown = f"<integer of {kind.bit_length()} bits>" if kind > 2**64 else str(kind)
    with pytest.raises(RemoteProtocolError, match=exactly(f"unknown message kind {shown}")):
        m.kind_of([kind, 1])
