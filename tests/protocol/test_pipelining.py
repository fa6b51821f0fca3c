"""Promise pipelining on the sans-IO broker (docs/protocol.md 3.6): answers kept until FINISH,
calls queued on answers not known yet and delivered before the answer, failures flowing down
the chain, and every refusal a hostile peer can provoke."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest

import pbtyped as pb
from pbtyped import LocalProtocolError, Referenceable, Registry, Root
from pbtyped.protocol.answers import AnswerRef
from pbtyped.protocol.broker import Broker
from pbtyped.protocol.events import AnswerReceived, CallReceived, FailureReceived
from pbtyped.wire.limits import Limits

from ..costs import assert_linear_cpu, peak_memory
from .wiring import Pair, decode_frames, msg, open_broker
from .wiring import hello as hello_frame

RETAIN = {"retain": True}


class Two(Referenceable):
    def __init__(self, n: int) -> None:
        self.n = n

    def remote_three(self, x: int) -> int:
        return self.n * 100 + x

    def remote_next(self) -> Two:
        return Two(self.n + 1)

    def remote_n(self) -> int:
        return self.n


class Chain(Root):
    def __init__(self) -> None:
        self.log: list[str] = []

    def remote_get_two(self) -> Two:
        return Two(2)

    def remote_point(self) -> dict[str, Any]:
        return {"x": 1, "owner": Two(7), "items": [10, 20]}

    def remote_move(self, point: dict[str, Any], by: int) -> int:
        return int(point["x"]) + by

    def remote_add(self, a: int, b: int) -> int:
        return a + b

    def remote_fails(self) -> Two:
        raise pb.ValidationError("no two today")

    def remote_note(self, what: Any) -> None:
        self.log.append(repr(what))


def pipelining_broker(*, features: tuple[str, ...] = (), **kw: Any) -> Broker:
    """A serving broker whose hand-crafted peer offers "pipelining" (and ``features``)."""
    broker = Broker(registry=Registry(), root=Chain(), **kw)
    broker.initiate()
    broker.receive_data(hello_frame(features=["pipelining", *features]))
    assert broker.pipelining
    return broker


def call(qid: int, target: list[Any], method: str, *args: Any, options: Any = None) -> bytes:
    if options is None:
        return msg(1, qid, target, method, list(args))
    return msg(1, qid, target, method, list(args), {}, options)


def fail_of(data: bytes) -> tuple[int, str, str]:
    [(kind, qid, error)] = decode_frames(data)
    assert kind == 3
    return qid, error["type"], error["message"]


def answer(broker: Broker, event: CallReceived) -> bytes:
    target = event.target
    assert isinstance(target, Referenceable)
    result = target.pb_dispatch(event.method, event.args, event.kwargs)
    return broker.send_return(event.question_id, result)


# -- between two brokers ---------------------------------------------------------------------


def send_chain(pair: Pair) -> tuple[int, int, int]:
    a = pair.a
    q1, d1 = a.send_pipelined_call(pair.root_ref(), "get_two", (), {}, retain=True)
    q2, d2 = a.send_pipelined_call(AnswerRef(q1), "next", (), {}, retain=True)
    q3, d3 = a.send_pipelined_call(AnswerRef(q2), "three", (1,), {}, retain=False)
    pair.send_to_b(d1 + d2 + d3)
    return q1, q2, q3


def answers(pair: Pair) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for event in pair.a_events:
        if isinstance(event, AnswerReceived):
            out[event.question_id] = event.value
        elif isinstance(event, FailureReceived):
            out[event.question_id] = event.error
    return out


def test_a_chain_of_three_dependent_calls_is_sent_before_any_answer() -> None:
    pair = Pair(root=Chain())
    _, _, q3 = send_chain(pair)
    pair.pump()
    assert answers(pair)[q3] == 301
    # The caller finished both kept answers as they arrived: the callee keeps nothing.
    assert pair.b.kept_answers == 0
    assert pair.b.waiting_calls == 0


def test_a_promised_value_is_an_argument_without_coming_back_first() -> None:
    pair = Pair(root=Chain())
    a, root = pair.a, pair.root_ref()
    q1, d1 = a.send_pipelined_call(root, "point", (), {}, retain=True)
    q2, d2 = a.send_pipelined_call(root, "move", (AnswerRef(q1), 2), {}, retain=False)
    q3, d3 = a.send_pipelined_call(root, "add", (AnswerRef(q1, ("items", 1)), 1), {}, retain=False)
    [[_, _, _, _, wire_args]] = decode_frames(d2)
    assert wire_args == [cbor2.CBORTag(41005, (q1, ())), 2]  # cbor2 reads tag content as tuples
    pair.send_to_b(d1 + d2 + d3)
    pair.pump()
    got = answers(pair)
    assert (got[q2], got[q3]) == (3, 21)


def test_a_call_on_a_path_in_an_answer_reaches_the_object_there() -> None:
    pair = Pair(root=Chain())
    q1, d1 = pair.a.send_pipelined_call(pair.root_ref(), "point", (), {}, retain=True)
    q2, d2 = pair.a.send_pipelined_call(AnswerRef(q1, ("owner",)), "n", (), {}, retain=False)
    assert decode_frames(d2)[0][2] == [1, q1, ["owner"]]
    pair.send_to_b(d1 + d2)
    pair.pump()
    assert answers(pair)[q2] == 7


def test_a_failed_answer_fails_every_call_on_it_with_the_same_error() -> None:
    pair = Pair(root=Chain())
    a = pair.a
    q1, d1 = a.send_pipelined_call(pair.root_ref(), "fails", (), {}, retain=True)
    q2, d2 = a.send_pipelined_call(AnswerRef(q1), "next", (), {}, retain=True)
    q3, d3 = a.send_pipelined_call(AnswerRef(q2), "three", (1,), {}, retain=False)
    q4, d4 = a.send_pipelined_call(pair.root_ref(), "note", (AnswerRef(q1),), {}, retain=False)
    pair.send_to_b(d1 + d2 + d3 + d4)
    pair.pump()
    got = answers(pair)
    for qid in (q1, q2, q3, q4):
        assert type(got[qid]) is pb.ValidationError
        assert str(got[qid]) == "no two today"
    assert pair.root.log == []  # note() never ran
    assert pair.b.kept_answers == 0


def test_the_caller_cannot_name_an_answer_it_did_not_ask_to_keep() -> None:
    pair = Pair(root=Chain())
    qid, _ = pair.a.send_call(pair.root_ref(), "get_two", (), {})
    with pytest.raises(LocalProtocolError, match="answer 1 is not kept by the peer"):
        pair.a.send_pipelined_call(AnswerRef(qid), "n", (), {}, retain=False)
    with pytest.raises(pb.InsecureTypeError, match="answer 1 is not kept by the peer"):
        pair.a.send_pipelined_call(pair.root_ref(), "note", (AnswerRef(qid),), {}, retain=False)


def test_a_caller_without_the_feature_cannot_pipeline() -> None:
    broker = open_broker()  # its hand-crafted peer lists no feature
    with pytest.raises(LocalProtocolError, match="the peer does not offer promise pipelining"):
        broker.send_pipelined_call(AnswerRef(1), "n", (), {}, retain=False)


# -- the callee's order: queued calls go before the answer ------------------------------------


def test_calls_queued_on_an_answer_are_delivered_in_order_before_its_return() -> None:
    broker = pipelining_broker()
    [head] = broker.receive_data(call(1, [0, 0], "get_two", options=RETAIN))
    assert isinstance(head, CallReceived)
    queued = call(2, [1, 1], "three", 1) + call(3, [1, 1], "three", 2) + call(4, [1, 1], "n")
    assert broker.receive_data(queued) == []
    assert broker.waiting_calls == 3
    data = answer(broker, head)
    ready = list(broker.ready_calls())
    assert [(e.question_id, e.method, e.args) for e in ready] == [
        (2, "three", [1]),
        (3, "three", [2]),
        (4, "n", []),
    ]
    assert all(isinstance(e.target, Two) for e in ready)
    assert decode_frames(data)[0][:2] == [2, 1]
    # Later calls on the known answer are delivered at once, while it is kept.
    [later] = broker.receive_data(call(5, [1, 1], "n"))
    assert isinstance(later, CallReceived)
    assert later.target is ready[0].target
    broker.receive_data(msg(4, 1))  # FINISH frees it
    assert broker.kept_answers == 0


def test_a_call_waiting_for_an_argument_holds_later_calls_on_its_target() -> None:
    # E-order: calls on one target start in the order they were sent, also when the first
    # waits for an answer named in its arguments.
    broker = pipelining_broker()
    [head] = broker.receive_data(call(1, [0, 0], "point", options=RETAIN))
    note = msg(1, 2, [0, 0], "note", [cbor2.CBORTag(41005, [1, ["x"]])])
    assert broker.receive_data(note + call(3, [0, 0], "add", 1, 2)) == []
    assert isinstance(head, CallReceived)
    answer(broker, head)
    assert [(e.question_id, e.args) for e in list(broker.ready_calls())] == [(2, [1]), (3, [1, 2])]
    assert broker.waiting_calls == 0


def test_a_finish_while_the_answer_runs_frees_it_once_known() -> None:
    broker = pipelining_broker()
    [head] = broker.receive_data(call(1, [0, 0], "get_two", options=RETAIN))
    assert broker.receive_data(call(2, [1, 1], "n") + msg(4, 1)) != []  # a CancelReceived
    assert isinstance(head, CallReceived)
    answer(broker, head)
    assert [e.question_id for e in list(broker.ready_calls())] == [2]  # sent before the FINISH
    assert broker.kept_answers == 0
    assert fail_of(broker.receive_data(call(3, [1, 1], "n")) or broker.take_pending()) == (
        3,
        "pbtyped.ProtocolError",
        "answer 1 is not kept",
    )


# -- refusals: each fails the one call, never the connection ----------------------------------


def refusal(broker: Broker, data: bytes) -> tuple[int, str, str]:
    assert broker.receive_data(data) == []
    return fail_of(broker.take_pending())


def test_an_answer_that_never_existed_is_not_kept() -> None:
    broker = pipelining_broker()
    assert refusal(broker, call(1, [1, 77], "n")) == (
        1,
        "pbtyped.ProtocolError",
        "answer 77 is not kept",
    )
    assert refusal(broker, msg(1, 2, [0, 0], "note", [cbor2.CBORTag(41005, [78, []])])) == (
        2,
        "pbtyped.ProtocolError",
        "answer 78 is not kept",
    )


def test_an_answer_not_asked_to_be_kept_is_not_kept() -> None:
    broker = pipelining_broker()
    [head] = broker.receive_data(call(1, [0, 0], "get_two"))
    assert isinstance(head, CallReceived)
    answer(broker, head)
    assert refusal(broker, call(2, [1, 1], "n"))[2] == "answer 1 is not kept"


def test_a_finished_answer_is_not_kept() -> None:
    broker = pipelining_broker()
    [head] = broker.receive_data(call(1, [0, 0], "get_two", options=RETAIN))
    assert isinstance(head, CallReceived)
    answer(broker, head)
    assert broker.kept_answers == 1
    broker.receive_data(msg(4, 1))
    assert broker.kept_answers == 0
    assert refusal(broker, call(2, [1, 1], "n"))[2] == "answer 1 is not kept"


def test_a_kept_failure_fails_later_calls_on_it_too() -> None:
    broker = pipelining_broker()
    [head] = broker.receive_data(call(1, [0, 0], "fails", options=RETAIN))
    assert isinstance(head, CallReceived)
    with pytest.raises(pb.ValidationError) as raised:
        head.target.pb_dispatch(head.method, head.args, head.kwargs)  # type: ignore[attr-defined]
    broker.send_failure(1, raised.value)
    assert refusal(broker, call(2, [1, 1], "n")) == (2, "pbtyped.ValidationError", "no two today")


def test_a_call_cannot_wait_for_its_own_answer() -> None:
    broker = pipelining_broker()
    assert refusal(broker, call(1, [1, 1], "n", options=RETAIN))[2] == (
        "call 1 cannot wait for its own answer"
    )
    assert broker.kept_answers == 1  # kept, as a failure, until FINISH
    broker.receive_data(msg(4, 1))
    assert broker.kept_answers == 0


@pytest.mark.parametrize(
    ("path", "error", "message"),
    [
        (["nope"], "pbtyped.ValidationError", "answer 1 has no value at $.result.nope"),
        (["items", 5], "pbtyped.ValidationError", "answer 1 has no value at $.result.items[5]"),
        (
            ["x"],
            "pbtyped.NoSuchMethod",
            "$.result.x of answer 1 is not a reference, it has no method 'n'",
        ),
    ],
)
def test_a_path_that_leads_nowhere_fails_the_call(
    path: list[Any], error: str, message: str
) -> None:
    broker = pipelining_broker()
    [head] = broker.receive_data(call(1, [0, 0], "point", options=RETAIN))
    assert isinstance(head, CallReceived)
    answer(broker, head)
    assert refusal(broker, call(2, [1, 1, path], "n")) == (2, error, message)


def test_a_chain_deeper_than_the_limit_fails_at_the_call_too_deep() -> None:
    broker = pipelining_broker(limits=Limits(max_pipeline_depth=2))
    [head] = broker.receive_data(call(1, [0, 0], "get_two", options=RETAIN))
    assert broker.receive_data(call(2, [1, 1], "next", options=RETAIN)) == []
    assert broker.receive_data(call(3, [1, 2], "next", options=RETAIN)) == []
    assert refusal(broker, call(4, [1, 3], "next", options=RETAIN)) == (
        4,
        "pbtyped.LimitExceeded",
        "a chain of calls on answers deeper than 2 (Limits.max_pipeline_depth); "
        "this call did not run",
    )
    assert isinstance(head, CallReceived)


def test_more_kept_answers_than_the_limit_fail_the_call() -> None:
    broker = pipelining_broker(limits=Limits(max_retained_answers=2))
    for qid in (1, 2):
        [event] = broker.receive_data(call(qid, [0, 0], "get_two", options=RETAIN))
        assert isinstance(event, CallReceived)
    assert refusal(broker, call(3, [0, 0], "get_two", options=RETAIN)) == (
        3,
        "pbtyped.LimitExceeded",
        "more than 2 answers kept at once (Limits.max_retained_answers); this call did not run",
    )


def test_calls_waiting_on_answers_are_bounded() -> None:
    broker = pipelining_broker(limits=Limits(max_calls_in_flight=2))
    broker.receive_data(call(1, [0, 0], "get_two", options=RETAIN))
    assert broker.receive_data(call(2, [1, 1], "n") + call(3, [1, 1], "n")) == []
    assert refusal(broker, call(4, [1, 1], "n")) == (
        4,
        "pbtyped.LimitExceeded",
        "more than 2 calls waiting on answers (Limits.max_calls_in_flight); this call did not run",
    )


def test_an_answer_inside_another_value_is_refused() -> None:
    broker = pipelining_broker()
    [head] = broker.receive_data(call(1, [0, 0], "point", options=RETAIN))
    nested = msg(1, 2, [0, 0], "note", [[cbor2.CBORTag(41005, [1, []])]])
    assert refusal(broker, nested)[1:] == (
        "pbtyped.ProtocolError",
        "an answer may be passed only as a whole argument",
    )
    assert isinstance(head, CallReceived)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"trace": "00-ab"}, 'call option "trace" is not supported by this peer'),
        ({"retain": False}, 'call option "retain" must be true, got false'),
        ({"retain": True, "meta": {}}, 'call option "meta" is not supported by this peer'),
    ],
)
def test_unknown_or_malformed_call_options_fail_the_call(
    options: dict[str, Any], message: str
) -> None:
    broker = pipelining_broker()
    assert refusal(broker, call(1, [0, 0], "n", options=options)) == (
        1,
        "pbtyped.ProtocolError",
        message,
    )
    assert broker.kept_answers == 0


def test_retain_without_the_feature_fails_the_call() -> None:
    broker = open_broker(root=Chain())
    assert refusal(broker, call(1, [0, 0], "get_two", options=RETAIN)) == (
        1,
        "pbtyped.ProtocolError",
        'call option "retain" is not supported by this peer',
    )


def test_an_answer_reference_without_the_feature_is_a_tag_not_admitted() -> None:
    broker = open_broker(root=Chain())
    data = msg(1, 1, [0, 0], "note", [cbor2.CBORTag(41005, [1, []])])
    assert refusal(broker, data) == (
        1,
        "pbtyped.InsecureTypeError",
        "arguments refused: CBOR tag 41005 is not allowed",
    )


@pytest.mark.parametrize(
    "content",
    [[1], [1, [None]], ["a", []], [1, ["x"] * 17], [-1, []], [1, ["x" * 201]]],
    ids=["short", "bad step", "text id", "path too long", "negative", "step too long"],
)
def test_a_malformed_answer_reference_fails_the_call(content: list[Any]) -> None:
    broker = pipelining_broker()
    qid, kind, message = refusal(broker, msg(1, 1, [0, 0], "note", [cbor2.CBORTag(41005, content)]))
    assert (qid, kind) == (1, "pbtyped.InsecureTypeError")
    assert message.startswith("arguments refused: malformed answer reference")


@pytest.mark.parametrize(
    "target",
    [[1, 1, "x"], [1, 1, ["x"] * 17], [1, 1, [None]], [1, 1, [], 0], [1, "a"]],
)
def test_a_malformed_answer_target_closes_the_connection(target: list[Any]) -> None:
    broker = pipelining_broker()
    with pytest.raises(pb.RemoteProtocolError, match=r"malformed call target|call target"):
        broker.receive_data(call(1, target, "n"))


def test_call_options_that_are_not_a_map_close_the_connection() -> None:
    broker = pipelining_broker()
    with pytest.raises(pb.RemoteProtocolError, match="call options must be a map of strings"):
        broker.receive_data(msg(1, 1, [0, 0], "n", [], {}, [1]))


def test_an_answer_reference_in_an_answer_fails_that_answer() -> None:
    pair = Pair(root=Chain())
    qid, _ = pair.a.send_pipelined_call(pair.root_ref(), "get_two", (), {}, retain=True)
    [event] = pair.a.receive_data(msg(2, qid, cbor2.CBORTag(41005, [1, []])))
    assert isinstance(event, FailureReceived)
    assert type(event.error) is pb.InsecureTypeError
    assert str(event.error) == (
        "the answer could not be decoded: tag 41005 may only be an argument of a call"
    )


def test_a_lost_connection_drops_every_kept_answer() -> None:
    broker = pipelining_broker()
    broker.receive_data(call(1, [0, 0], "get_two", options=RETAIN) + call(2, [1, 1], "n"))
    assert (broker.kept_answers, broker.waiting_calls) == (1, 1)
    broker.connection_lost()
    assert (broker.kept_answers, broker.waiting_calls) == (0, 0)


def test_a_connection_that_never_pipelines_makes_no_table() -> None:
    pair = Pair(root=Chain())
    assert pair.value(pair.root_ref(), "add", 1, 2) == 3
    assert pair.b.answers is None
    assert pair.a.answers is None


# -- what pipelining costs a callee to receive ------------------------------------------------


def _answer_refs(n: int) -> bytes:
    """A kept answer not known yet, and calls naming it ``n`` times in all as arguments, 500
    in each (one call naming more is refused by the decoded-size ratio before it is held:
    that would measure the refusal, not what held references cost)."""
    head = call(1, [0, 0], "get_two", options=RETAIN)
    ref = cbor2.CBORTag(41005, [1, []])
    sizes = [500] * (n // 500) + ([n % 500] if n % 500 else [])
    return head + b"".join(
        msg(1, q, [0, 0], "note", [ref] * size) for q, size in enumerate(sizes, start=2)
    )


def _queued_calls(n: int) -> bytes:
    """A kept answer not known yet, and ``n`` calls waiting on it."""
    return call(1, [0, 0], "get_two", options=RETAIN) + b"".join(
        call(q, [1, 1], "three", q) for q in range(2, n + 2)
    )


def _queued_sends(n: int) -> bytes:
    """A call waiting on a kept answer not known yet, and ``n`` SENDs waiting behind it."""
    head = call(1, [0, 0], "get_two", options=RETAIN)
    waits = msg(1, 2, [0, 0], "note", [cbor2.CBORTag(41005, [1, []])])
    return head + waits + b"".join(msg(14, [0, 0], "note", [q]) for q in range(n))


def _finished_queued_calls(n: int) -> bytes:
    """``n`` calls waiting on an answer not known yet, each then finished (FINISH)."""
    return _queued_calls(n) + b"".join(msg(4, q) for q in range(2, n + 2))


@pytest.mark.parametrize(
    "attack",
    [_answer_refs, _queued_calls, _finished_queued_calls, _queued_sends],
    ids=["arguments", "queued", "queued-then-finished", "queued-sends"],
)
def test_pipelined_input_costs_in_proportion_to_its_bytes(attack: Any) -> None:
    """Attack: many answer references in one call, or many calls (or SENDs) queued on an
    answer that is not known yet (and then finished). Memory stays within the decoded-size
    ratio of the bytes sent (32x), and CPU per byte does not grow from one size to one 16x
    larger."""
    limits = Limits(max_calls_in_flight=100_000)

    def receive(data: bytes) -> Any:
        def run() -> Broker:
            broker = pipelining_broker(limits=limits, features=("oneway",))
            broker.receive_data(data)
            return broker  # kept alive until the peak is read

        return run

    for n in (500, 8000):
        data = attack(n)
        # What is measured is held input: refused at once, it would cost next to nothing.
        assert receive(data)().waiting_calls > 0, f"{n}: nothing was held"
        ratio = peak_memory(receive(data)) / len(data)
        assert ratio < 32, f"{n}: {ratio:.1f}x the bytes sent"

    def make(n: int) -> tuple[Any, int]:
        data = attack(n)
        return receive(data), len(data)

    assert_linear_cpu(make, 500, 8000)


def test_a_finish_for_a_call_waiting_on_an_answer_means_it_never_runs() -> None:
    """FINISH stops the work (spec 3.4) also before it starts: a call queued on an answer
    not known yet fails with CallCancelled when its turn comes, the calls behind it on the
    same target keep their order, and a call on its answer fails the same way."""
    broker = pipelining_broker()
    [head] = broker.receive_data(call(1, [0, 0], "get_two", options=RETAIN))
    queued = call(2, [1, 1], "next", options=RETAIN) + call(3, [1, 1], "n") + call(4, [1, 2], "n")
    assert broker.receive_data(queued) == []
    broker.receive_data(msg(4, 2))  # the caller no longer wants call 2
    assert isinstance(head, CallReceived)
    data = answer(broker, head) + broker.take_pending()
    assert [e.question_id for e in list(broker.ready_calls())] == [3]
    fails = {f[1]: f[2] for f in decode_frames(data) if f[0] == 3}
    assert set(fails) == {2, 4}
    for qid in (2, 4):
        assert fails[qid]["type"] == "pbtyped.CallCancelled"
    assert broker.waiting_calls == 0
    broker.receive_data(msg(4, 1))
    assert broker.kept_answers == 0
