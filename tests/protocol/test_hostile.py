"""Item 11: bad input from a peer costs that call or that connection, never more.

Each case drives the sans-IO broker with hand-made frames (``cbor2.dumps`` plus the 8-byte
header) and checks the exact error, or the exact Fail the broker answers by itself.
"""

from __future__ import annotations

import gc

import cbor2
import pytest

from pbtyped import (
    DeadReferenceError,
    FrameTooLarge,
    LocalProtocolError,
    Registry,
    RemoteError,
    RemoteProtocolError,
)
from pbtyped.protocol.broker import Broker, ImportedReference
from pbtyped.protocol.events import (
    AnswerReceived,
    CallReceived,
    CancelReceived,
    FailureReceived,
    HandshakeComplete,
    PeerAborted,
)
from pbtyped.protocol.state import ConnectionState

from .wiring import (
    Echoer,
    Pair,
    decode_frames,
    exactly,
    frame,
    hello,
    msg,
    open_broker,
    split_frames,
)


def echo_call(qid: int, value: object = "x", target: object = (0, 0)) -> bytes:
    return msg(1, qid, list(target), "echo", [value], {})


def assert_echo_works(broker: Broker, qid: int = 1000) -> None:
    """The connection is still usable: a good call arrives as a CallReceived."""
    events = broker.receive_data(echo_call(qid, "still here"))
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, CallReceived)
    assert (event.question_id, event.method, event.args) == (qid, "echo", ["still here"])


# -- message kinds and shapes ----------------------------------------------------------------


@pytest.mark.parametrize("kind", [7, 8, 15, 99, 2**40])
def test_unknown_message_kind_closes(kind: int) -> None:
    broker = open_broker()
    with pytest.raises(RemoteProtocolError, match=exactly(f"unknown message kind {kind}")):
        broker.receive_data(msg(kind, 1))


@pytest.mark.parametrize(
    "body",
    [cbor2.dumps([]), cbor2.dumps({"kind": 1}), cbor2.dumps(["call"]), cbor2.dumps(1)],
    ids=["empty array", "map", "text kind", "bare int"],
)
def test_message_that_is_not_a_kind_array_closes(body: bytes) -> None:
    broker = open_broker()
    with pytest.raises(
        RemoteProtocolError, match=exactly("a message must be an array starting with its kind")
    ):
        broker.receive_data(frame(body))


@pytest.mark.parametrize(
    ("items", "name"),
    [
        ([1, 1, [0, 0], "echo"], "CALL message (4 items)"),
        ([1, 1, [0, 0], "echo", [], {}, {}, "extra"], "CALL message (8 items)"),
        ([2, 1], "RETURN message (2 items)"),
        ([3, 1, {"type": "x", "message": "y"}, 0], "FAIL message (4 items)"),
        ([4], "FINISH message (1 items)"),
        ([5, 1], "RELEASE message (2 items)"),
        ([6], "ABORT message (1 items)"),
    ],
)
def test_known_kind_with_wrong_item_count_closes(items: list[object], name: str) -> None:
    broker = open_broker()
    with pytest.raises(RemoteProtocolError, match=exactly(f"malformed {name}")):
        broker.receive_data(msg(*items))


def test_body_of_zero_bytes_closes() -> None:
    broker = open_broker()
    with pytest.raises(RemoteProtocolError, match=exactly("empty frame body")):
        broker.receive_data(frame(b""))


# -- calls to objects that do not exist --------------------------------------------------------


def test_call_to_never_issued_id_fails_that_call_with_dead_reference() -> None:
    broker = open_broker()
    assert broker.receive_data(echo_call(1, target=(0, 5))) == []
    assert decode_frames(broker.take_pending()) == [
        [
            3,
            1,
            {
                "type": "pbtyped.DeadReferenceError",
                "message": "no object #5 on this connection: it was never given to you, "
                "or it was released",
                "registered": True,
            },
        ]
    ]
    assert_echo_works(broker)


def test_caller_gets_dead_reference_error_for_a_never_issued_id() -> None:
    pair = Pair()
    # A side that believes it holds id 42, which the server never gave (a buggy or forging
    # peer): the callee's check refuses it.
    forged = pair.a.decode_sender_ref(42)
    event = pair.call(forged, "echo", "x")
    assert isinstance(event, FailureReceived)
    assert type(event.error) is DeadReferenceError
    assert str(event.error) == (
        "no object #42 on this connection: it was never given to you, or it was released"
    )
    assert pair.a.pending_questions == 0
    assert pair.value(pair.root_ref(), "echo", "next") == "next"


def test_call_to_a_released_id_fails_with_dead_reference_error() -> None:
    pair = Pair()
    start = pair.b.export_count
    thing = pair.value(pair.root_ref(), "make")
    export_id = thing.pb_export_id
    assert pair.b.export_count == start + 1
    del thing
    gc.collect()
    pair.pump()  # the Release goes out
    assert pair.b.export_count == start
    # Our side forgets it released the id (a buggy or forging peer): the callee refuses.
    # (Kept alive to the end: its own Release would be refused too.)
    forged = pair.a.decode_sender_ref(export_id)
    event = pair.call(forged, "ping")
    assert isinstance(event, FailureReceived)
    assert type(event.error) is DeadReferenceError
    assert str(event.error) == (
        f"no object #{export_id} on this connection: it was never given to you, or it was released"
    )
    assert pair.value(pair.root_ref(), "echo", "next") == "next"


def test_call_on_an_answer_is_refused_without_pipelining() -> None:
    # Target [1, question_id] needs "pipelining" in both Hellos (this peer's lists none):
    # the call fails, not the line.
    broker = open_broker()
    assert broker.receive_data(echo_call(1, target=(1, 0))) == []
    assert decode_frames(broker.take_pending()) == [
        [
            3,
            1,
            {
                "type": "pbtyped.ProtocolError",
                "message": "promise pipelining is not supported by this peer yet",
                "registered": True,
            },
        ]
    ]
    assert_echo_works(broker)


def test_the_caller_of_a_refused_pipelined_call_gets_local_protocol_error() -> None:
    # ProtocolError is raised only as one of its subclasses, which say whose fault it was:
    # a peer refusing our call for a protocol reason means our side sent what it does not take.
    # (Answer 0 was never asked to be kept.)
    pair = Pair()
    qid, _ = pair.a.send_call(pair.root_ref(), "echo", ("x",), {})  # a's bytes are not sent
    pair.send_to_b(msg(1, qid, [1, 0], "echo", ["x"]))  # sent in its place: a pipelined call
    pair.pump()
    [event] = pair.a_events
    assert isinstance(event, FailureReceived)
    assert type(event.error) is LocalProtocolError
    assert str(event.error) == "answer 0 is not kept"


# -- question ids ----------------------------------------------------------------------------


def test_duplicate_question_id_while_pending_closes() -> None:
    broker = open_broker()
    [first] = broker.receive_data(echo_call(9))
    assert isinstance(first, CallReceived)
    with pytest.raises(
        RemoteProtocolError, match=exactly("question id 9 is already in use by a pending call")
    ):
        broker.receive_data(echo_call(9))


def test_question_id_may_be_reused_once_answered() -> None:
    broker = open_broker()
    broker.receive_data(echo_call(9))
    assert decode_frames(broker.send_return(9, "x")) == [[2, 9, "x"]]
    [again] = broker.receive_data(echo_call(9, "y"))
    assert isinstance(again, CallReceived)
    assert again.question_id == 9


def test_question_id_of_an_automatic_failure_is_free_again() -> None:
    broker = open_broker()
    assert broker.receive_data(echo_call(3, target=(0, 77))) == []
    broker.take_pending()
    assert_echo_works(broker, qid=3)


@pytest.mark.parametrize(
    ("answer", "name"),
    [
        ([2, 77, "surprise"], "RETURN"),
        ([3, 77, {"type": "pbtyped.NoSuchMethod", "message": "m", "registered": True}], "FAIL"),
    ],
)
def test_answer_to_a_question_never_asked_closes(answer: list[object], name: str) -> None:
    broker = open_broker()
    with pytest.raises(
        RemoteProtocolError, match=exactly("answer to question 77, which was never asked")
    ):
        broker.receive_data(msg(*answer))


def test_second_answer_to_the_same_question_closes() -> None:
    pair = Pair()
    qid, data = pair.a.send_call(pair.root_ref(), "echo", ("x",), {})
    pair.send_to_b(data)
    pair.pump()
    assert pair.a_events == [AnswerReceived(question_id=qid, value="x")]
    with pytest.raises(
        RemoteProtocolError, match=exactly(f"answer to question {qid}, which was never asked")
    ):
        pair.a.receive_data(msg(2, qid, "again"))


def test_finish_for_an_unknown_question_is_ignored() -> None:
    # A Finish may cross our answer on the wire: not an error, and nothing to cancel.
    broker = open_broker()
    assert broker.receive_data(msg(4, 12345)) == []
    assert broker.take_pending() == b""
    assert_echo_works(broker)


def test_finish_for_a_running_call_asks_to_cancel_it() -> None:
    broker = open_broker()
    broker.receive_data(echo_call(5))
    assert broker.receive_data(msg(4, 5)) == [CancelReceived(question_id=5)]
    # The callee still answers exactly once; the answer frees the id.
    assert decode_frames(broker.send_return(5, "late")) == [[2, 5, "late"]]
    assert broker.send_return(5, "twice") == b""


@pytest.mark.parametrize(
    ("qid", "shown"),
    [(-1, "-1"), (2**63, "9223372036854775808"), ("7", '"7"'), (1.0, "1.0"), (None, "null")],
)
def test_bad_question_id_closes(qid: object, shown: str) -> None:
    broker = open_broker()
    with pytest.raises(
        RemoteProtocolError,
        match=exactly(f"question id must be a non-negative integer, got {shown}"),
    ):
        broker.receive_data(msg(1, qid, [0, 0], "echo", [], {}))


# -- arguments and targets of the wrong shape ----------------------------------------------------


@pytest.mark.parametrize("args", ["x", {"a": 1}, 5, None], ids=["text", "map", "int", "null"])
def test_call_args_not_an_array_closes(args: object) -> None:
    broker = open_broker()
    with pytest.raises(RemoteProtocolError, match=exactly("call arguments must be an array")):
        broker.receive_data(msg(1, 1, [0, 0], "echo", args, {}))


@pytest.mark.parametrize(
    "kwargs", [[], "x", {b"key": 1}, None], ids=["array", "text", "bytes key", "null"]
)
def test_call_kwargs_not_a_map_of_strings_closes(kwargs: object) -> None:
    broker = open_broker()
    with pytest.raises(
        RemoteProtocolError, match=exactly("call keyword arguments must be a map of strings")
    ):
        broker.receive_data(msg(1, 1, [0, 0], "echo", [], kwargs))


def test_call_kwargs_with_int_key_closes_at_the_decoder() -> None:
    # strict_map_keys: an int map key is refused by the CBOR decoder itself.
    broker = open_broker()
    with pytest.raises(
        RemoteProtocolError,
        match=exactly(
            "malformed CBOR: error decoding map: map key must be a text string or byte "
            "string, not int"
        ),
    ):
        broker.receive_data(msg(1, 1, [0, 0], "echo", [], {1: 2}))


def test_call_without_kwargs_item_is_accepted() -> None:
    # A CALL may omit its kwargs map (5 items).
    broker = open_broker()
    [event] = broker.receive_data(msg(1, 1, [0, 0], "echo", ["x"]))
    assert isinstance(event, CallReceived)
    assert (event.args, event.kwargs) == (["x"], {})


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ([2, 0], "malformed call target [2, 0]"),
        ([0], "malformed call target [0]"),
        ([0, 0, 0], "malformed call target [0, 0, 0]"),
        ("root", 'malformed call target "root"'),
        (0, "malformed call target 0"),
        ([0, -1], "call target id must be a non-negative integer, got -1"),
        ([0, "0"], 'call target id must be a non-negative integer, got "0"'),
        ([1, -3], "call target question id must be a non-negative integer, got -3"),
    ],
)
def test_bad_call_target_closes(target: object, message: str) -> None:
    broker = open_broker()
    with pytest.raises(RemoteProtocolError, match=exactly(message)):
        broker.receive_data(msg(1, 1, target, "echo", [], {}))


@pytest.mark.parametrize("method", [5, None, "x" * 201, b"echo"])
def test_bad_method_name_closes(method: object) -> None:
    broker = open_broker()
    with pytest.raises(
        RemoteProtocolError, match=exactly("method name must be a string of at most 200 characters")
    ):
        broker.receive_data(msg(1, 1, [0, 0], method, [], {}))


def test_malformed_error_in_fail_closes() -> None:
    pair = Pair()
    qid, _ = pair.a.send_call(pair.root_ref(), "echo", ("x",), {})
    with pytest.raises(RemoteProtocolError, match=exactly("malformed error: expected a map")):
        pair.a.receive_data(msg(3, qid, "boom"))


def test_fail_with_unregistered_type_arrives_as_remote_error() -> None:
    pair = Pair()
    qid, _ = pair.a.send_call(pair.root_ref(), "echo", ("x",), {})
    # "registered": true for a name this side does not know is not trusted.
    [event] = pair.a.receive_data(
        msg(3, qid, {"type": "os.system", "message": "rm -rf", "registered": True})
    )
    assert isinstance(event, FailureReceived)
    assert type(event.error) is RemoteError
    assert (event.error.remote_type, event.error.message) == ("os.system", "rm -rf")


# -- handshake -------------------------------------------------------------------------------


def fresh() -> Broker:
    broker = Broker(registry=Registry(), root=Echoer())
    broker.initiate()
    return broker


def test_call_before_hello_closes() -> None:
    broker = fresh()
    with pytest.raises(RemoteProtocolError, match=exactly("expected Hello first, got Call")):
        broker.receive_data(echo_call(1))


def test_return_before_hello_closes() -> None:
    broker = fresh()
    with pytest.raises(RemoteProtocolError, match=exactly("expected Hello first, got Return")):
        broker.receive_data(msg(2, 1, "x"))


def test_wrong_protocol_version_closes() -> None:
    broker = fresh()
    with pytest.raises(
        RemoteProtocolError,
        match=exactly("peer speaks protocol version 2; this side speaks 1"),
    ):
        broker.receive_data(hello(version=2))
    assert broker.state is ConnectionState.AWAIT_HELLO


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([0, "hello"], "malformed HELLO message (2 items)"),
        ([0], "malformed HELLO message (1 items)"),
        (
            [0, {"version": 1, "max_frame_size": 1024}],
            "the peer does not speak the pbtyped protocol",
        ),
        (
            [0, {"protocol": "pb", "version": 1, "max_frame_size": 1024}],
            "the peer does not speak the pbtyped protocol",
        ),
        (
            [0, {"protocol": "pbtyped", "max_frame_size": 1024}],
            "protocol version must be a non-negative integer, got null",
        ),
        (
            [0, {"protocol": "pbtyped", "version": "1", "max_frame_size": 1024}],
            'protocol version must be a non-negative integer, got "1"',
        ),
        (
            [0, {"protocol": "pbtyped", "version": 1}],
            "max_frame_size must be a non-negative integer, got null",
        ),
        (
            [0, {"protocol": "pbtyped", "version": 1, "max_frame_size": 1024, "features": "x"}],
            "malformed hello features",
        ),
        (
            [0, {"protocol": "pbtyped", "version": 1, "max_frame_size": 1024, "features": [1]}],
            "malformed hello features",
        ),
        (
            [
                0,
                {
                    "protocol": "pbtyped",
                    "version": 1,
                    "max_frame_size": 1024,
                    "features": ["f"] * 65,
                },
            ],
            "malformed hello features",
        ),
    ],
)
def test_malformed_hello_closes(body: list[object], message: str) -> None:
    broker = fresh()
    with pytest.raises(RemoteProtocolError, match=exactly(message)):
        broker.receive_data(msg(*body))


@pytest.mark.parametrize("limits", [{"max_frame_size": 0}, {"max_body_size": 10}])
def test_hello_with_a_frame_limit_below_64_bytes_closes(limits: dict[str, int]) -> None:
    broker = fresh()
    with pytest.raises(
        RemoteProtocolError,
        match=exactly("the peer announced a frame size limit below 64 bytes"),
    ):
        broker.receive_data(hello(**limits))


def test_hello_with_unknown_features_and_keys_is_accepted() -> None:
    # Room to grow: features this side does not know, and extra keys, are ignored.
    broker = fresh()
    events = broker.receive_data(hello(features=["pipelining", "teleport"], later={"x": 1}))
    assert events == [HandshakeComplete()]
    assert broker.is_open


def test_second_hello_closes() -> None:
    broker = open_broker()
    with pytest.raises(RemoteProtocolError, match=exactly("unexpected Hello after the handshake")):
        broker.receive_data(hello())


def test_our_hello_on_the_wire() -> None:
    broker = Broker(registry=Registry())
    [(body_len, att_len, body, _)] = split_frames(broker.initiate())
    assert (body_len, att_len) == (len(body), 0)
    assert cbor2.loads(body) == [
        0,
        {
            "protocol": "pbtyped",
            "version": 1,
            "max_frame_size": 16 * 1024 * 1024,
            "max_body_size": 4 * 1024 * 1024,
            "features": [
                "columns",
                "interfaces",
                "keepalive",
                "goodbye",
                "oneway",
                "pipelining",
                "streams",
            ],
            "stream_window": 256 * 1024,
        },
    ]


def test_peer_limit_from_hello_bounds_our_calls() -> None:
    broker = Broker(registry=Registry())
    broker.initiate()
    broker.receive_data(hello(max_frame_size=100))
    with pytest.raises(FrameTooLarge):
        broker.send_call(broker.root_reference(), "echo", ("x" * 200,), {})
    assert broker.pending_questions == 0


# -- abort -----------------------------------------------------------------------------------


def test_abort_before_hello_is_reported() -> None:
    broker = fresh()
    assert broker.receive_data(msg(6, "go away")) == [PeerAborted(reason="go away")]


def test_abort_after_hello_is_reported() -> None:
    broker = open_broker()
    assert broker.receive_data(msg(6, "bye")) == [PeerAborted(reason="bye")]


def test_our_abort_message_and_closed_state() -> None:
    broker = open_broker()
    data = broker.abort("unknown message kind 7")
    assert decode_frames(data) == [[6, "unknown message kind 7"]]
    assert broker.state is ConnectionState.CLOSED
    assert broker.receive_data(echo_call(1)) == []  # closed: input is ignored
    assert broker.abort("again") == b""


# -- gaps found while writing these tests (each one a bug report) --------------------------------


def test_overlong_method_name_costs_at_most_that_call() -> None:
    pair = Pair()
    try:
        _, data = pair.a.send_call(pair.root_ref(), "m" * 201, (), {})
    except Exception:
        assert pair.a.pending_questions == 0
        return
    pair.send_to_b(data)
    pair.pump()  # raises RemoteProtocolError today


def test_int_map_key_argument_costs_at_most_that_call() -> None:
    pair = Pair()
    try:
        _, data = pair.a.send_call(pair.root_ref(), "echo", ({1: "a"},), {})
    except Exception:
        assert pair.a.pending_questions == 0
        return
    pair.send_to_b(data)
    pair.pump()  # raises RemoteProtocolError today


@pytest.mark.parametrize(
    "items",
    [[2.0, 1, "y"], [1.0, 2, [0, 0], "echo", ["x"], {}], [True, 2, [0, 0], "echo", ["x"], {}]],
    ids=["2.0 as RETURN", "1.0 as CALL", "true as CALL"],
)
def test_message_kind_must_be_an_int(items: list[object]) -> None:
    pair = Pair()
    pair.a.send_call(pair.root_ref(), "echo", ("x",), {})  # question 1 is pending on a
    with pytest.raises(
        RemoteProtocolError, match=exactly("a message must be an array starting with its kind")
    ):
        pair.a.receive_data(msg(*items))


@pytest.mark.parametrize(
    ("target", "shown"), [([0.0, 0], "[0.0, 0]"), ([False, 0], "[false, 0]")], ids=["0.0", "false"]
)
def test_call_target_kind_must_be_an_int(target: list[object], shown: str) -> None:
    broker = open_broker()
    with pytest.raises(RemoteProtocolError, match=exactly(f"malformed call target {shown}")):
        broker.receive_data(msg(1, 1, target, "echo", [], {}))


def test_a_reference_not_held_is_refused_before_sending() -> None:
    pair = Pair()
    stray = ImportedReference(pair.a, 42)  # never decoded from the peer, never held
    with pytest.raises(DeadReferenceError, match=exactly("this reference was released")):
        pair.a.send_call(stray, "echo", ("x",), {})
    assert pair.a.pending_questions == 0
