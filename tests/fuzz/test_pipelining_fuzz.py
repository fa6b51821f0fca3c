"""Promise pipelining between two brokers, under random well-formed programs: chains, answers
as arguments, failures, paths that lead nowhere, FINISH at any time. Whatever the program,
every call is answered exactly once and, once every kept answer is finished, the callee holds
nothing: no kept answer, no waiting call, no export but its root."""

from __future__ import annotations

import gc
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import pbtyped as pb
from pbtyped.protocol.answers import AnswerRef
from pbtyped.protocol.events import AnswerReceived, FailureReceived

from ..protocol.wiring import Pair
from .profiles import fuzz_settings


class Node(pb.Referenceable):
    def remote_node(self) -> Node:
        return Node()

    def remote_value(self) -> dict[str, Any]:
        return {"n": 1, "items": [1, 2]}

    def remote_fails(self) -> Node:
        raise pb.ValidationError("no")

    def remote_take(self, value: Any) -> int:
        return len(repr(value))


class Root(pb.Root, Node):
    pass


#: One step of a program: (what, which earlier question it names, a path, retain).
steps = st.lists(
    st.tuples(
        st.sampled_from(["root", "on answer", "answer as argument", "finish", "pump"]),
        st.integers(0, 30),
        st.sampled_from([(), ("n",), ("items", 1), ("nope",)]),
        st.booleans(),
    ),
    max_size=30,
)


@fuzz_settings(60)
@given(steps, st.sampled_from(["node", "value", "fails", "take"]))
def test_every_pipelined_program_ends_with_nothing_held(program: list[Any], method: str) -> None:
    pair = Pair(root=Root())
    a = pair.a
    asked: list[int] = []
    for what, pick, path, retain in program:
        kept = sorted(a.answers.asked) if a.answers is not None else []
        args: tuple[Any, ...] = (1,) if method == "take" else ()
        if what == "pump":
            pair.pump()
            continue
        if what == "finish" and kept:
            pair.send_to_b(a.send_finish(kept[pick % len(kept)]))
            continue
        if what == "root" or not kept:
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
    answered = [
        e.question_id for e in pair.a_events if isinstance(e, AnswerReceived | FailureReceived)
    ]
    assert sorted(answered) == asked  # each exactly once
    # The caller finished every kept answer as its answer arrived.
    assert not a.answers or not a.answers.asked
    assert pair.b.kept_answers == 0
    assert pair.b.waiting_calls == 0
    pair.a_events.clear()
    gc.collect()
    pair.pump()  # the releases of every reference the answers held
    assert pair.b.export_count == 1
