"""Promise pipelining between two brokers, under random well-formed programs: chains, answers
as arguments, failures, paths that lead nowhere, FINISH at any time, and one-way calls (SEND)
among them. Whatever the program, every call is answered exactly once and nothing is answered
for a SEND, calls and SENDs on the root start in the order they were sent (E-order), and once
every kept answer is finished, the callee holds nothing: no kept answer, no waiting call or
SEND, no bytes, no export but its root."""

from __future__ import annotations

import gc
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import pbtyped as pb
from pbtyped.protocol.answers import AnswerRef
from pbtyped.protocol.events import AnswerReceived, CallReceived, FailureReceived

from ..protocol.wiring import Pair
from .profiles import fuzz_settings


class Node(pb.Referenceable):
    def remote_node(self) -> Node:
        return Node()

    def remote_value(self) -> dict[str, Any]:
        return {"n": 1, "items": [1, 2]}

    def remote_slow(self) -> Node:  # its answer waits for a "release" step
        return Node()

    def remote_fails(self) -> Node:
        raise pb.ValidationError("no")

    def remote_take(self, value: Any) -> int:
        return len(repr(value))


class Root(pb.Root, Node):
    def __init__(self) -> None:
        self.marks: list[int] = []

    def remote_mark(self, seq: int, value: Any = None) -> Node:
        self.marks.append(seq)
        return Node()


#: One step of a program: (what, which earlier question it names, a path, retain). A "mark"
#: is a call on the root naming an answer as its argument, or not (pick odd); a "send" a
#: SEND to the root: both record their place in the root's ``marks`` as they start. "slow"
#: calls ``slow`` on the root, whose answer the callee gives only at a "release" step (as an
#: async method ends), so that calls naming it wait meanwhile, and SENDs behind them.
steps = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "root",
                "on answer",
                "answer as argument",
                "mark",
                "send",
                "slow",
                "release",
                "finish",
                "pump",
            ]
        ),
        st.integers(0, 30),
        st.sampled_from([(), ("n",), ("items", 1), ("nope",)]),
        st.booleans(),
    ),
    max_size=30,
)


@fuzz_settings(60)
@given(steps, st.sampled_from(["node", "value", "fails", "take"]))
def test_every_pipelined_program_ends_with_nothing_held(program: list[Any], method: str) -> None:
    root = Root()
    held: list[CallReceived] = []

    def hold(event: CallReceived) -> bool:
        if event.method == "slow":
            held.append(event)
        return event.method == "slow"

    pair = Pair(root=root, b_hold=hold)
    a = pair.a
    asked: list[int] = []
    sends: list[int] = []
    for seq, (what, pick, path, retain) in enumerate(program):
        kept = sorted(a.answers.asked) if a.answers is not None else []
        args: tuple[Any, ...] = (1,) if method == "take" else ()
        if what == "pump":
            pair.pump()
            continue
        if what == "release" and held:
            pair.answer_held(held.pop(pick % len(held)))
            continue
        if what == "finish" and kept:
            pair.send_to_b(a.send_finish(kept[pick % len(kept)]))
            continue
        if what == "send":
            pair.send_to_b(a.send_oneway(pair.root_ref(), "mark", (seq,), {}))
            sends.append(seq)
            continue
        if what == "slow":
            qid, data = a.send_pipelined_call(pair.root_ref(), "slow", (), {}, retain=retain)
        elif what == "mark":
            named = (AnswerRef(kept[pick % len(kept)], path),) if kept and pick % 2 else ()
            qid, data = a.send_pipelined_call(
                pair.root_ref(), "mark", (seq, *named), {}, retain=retain
            )
        elif what == "root" or not kept:
            qid, data = a.send_pipelined_call(pair.root_ref(), method, args, {}, retain=retain)
        elif what == "on answer":
            target = AnswerRef(kept[pick % len(kept)], path)
            qid, data = a.send_pipelined_call(target, method, args, {}, retain=retain)
        else:
            argument = AnswerRef(kept[pick % len(kept)], path)
            qid, data = a.send_pipelined_call(
                pair.root_ref(), "take", (argument,), {}, retain=retain
            )
        asked.append(qid)
        pair.send_to_b(data)
    pair.pump()
    while held:
        pair.answer_held(held.pop(0))
    answered = [
        e.question_id for e in pair.a_events if isinstance(e, AnswerReceived | FailureReceived)
    ]
    assert sorted(answered) == asked  # each exactly once, and nothing for a SEND
    # E-order on the root: marks start in the order sent (a mark whose answer failed or led
    # nowhere never starts), and every SEND starts.
    assert root.marks == sorted(root.marks)
    assert set(sends) <= set(root.marks)
    # The caller finished every kept answer as its answer arrived.
    assert not a.answers or not a.answers.asked
    assert pair.b.kept_answers == 0
    assert pair.b.waiting_calls == 0
    assert pair.b.held_bytes == 0
    pair.a_events.clear()
    gc.collect()
    pair.pump()  # the releases of every reference the answers held
    assert pair.b.export_count == 1
