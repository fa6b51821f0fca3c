"""Hostile and damaged frames fed to sans-IO brokers (issue 4, item 2a).

Each property feeds a whole connection's worth of hostile bytes, split at arbitrary points,
into a broker that behaves as the runtime does (``sansio.Side``). Allowed: events, Fail
answers for the offending call, ``RemoteProtocolError``/``FrameTooLarge``; the tables stay
within their limits after every chunk, and everything is empty once the line closes.
"""

from __future__ import annotations

import contextlib
from typing import Any

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

import pbtyped as pb
from pbtyped.wire import tags

from .cbor_gen import (
    Arr,
    Map,
    Nest,
    Tag,
    chunks,
    encode,
    forged_ids,
    frame,
    hostile_stream,
    messages,
    name_lists,
    stream_messages,
    values,
)
from .peers import Point, Thing
from .profiles import fuzz_settings
from .sansio import ALLOWED, Side

cuts = st.lists(st.integers(min_value=0), max_size=6)


def _hello() -> bytes:
    # A peer offering "interfaces": the references it sends may name their interfaces.
    info = {"protocol": "pbtyped", "version": 1, "max_frame_size": 1 << 20}
    return frame(cbor2.dumps([0, {**info, "features": ["interfaces"]}]))


def _feed_all(side: Side, data: bytes, cut: list[int]) -> None:
    with contextlib.suppress(*ALLOWED):
        for chunk in chunks(data, cut):
            side.feed(chunk)


@fuzz_settings(300)
@given(st.binary(max_size=200), cuts)
def test_arbitrary_bytes_into_a_server_broker(data: bytes, cut: list[int]) -> None:
    server = Side(server=True)
    _feed_all(server, data, cut)
    server.finish()


@fuzz_settings(300)
@given(st.binary(max_size=200), cuts)
def test_arbitrary_bytes_after_the_handshake(data: bytes, cut: list[int]) -> None:
    server = Side(server=True)
    server.feed(_hello())
    _feed_all(server, data, cut)
    server.finish()


@fuzz_settings(200)
@given(hostile_stream(), cuts)
def test_mutated_frames_into_a_server_broker(data: bytes, cut: list[int]) -> None:
    server = Side(server=True)
    _feed_all(server, data, cut)
    server.finish()


@fuzz_settings(150)
@given(st.integers(1, 5), hostile_stream(answers=True, hello=False), cuts)
def test_mutated_answers_into_a_client_broker(asked: int, data: bytes, cut: list[int]) -> None:
    client = Side(server=False)
    client.feed(_hello())
    for i in range(asked):
        client.call("echo", i)
    _feed_all(client, data, cut)
    client.finish()


@fuzz_settings(150)
@given(st.lists(messages(), min_size=1, max_size=5))
def test_whole_hostile_messages_between_genuine_calls(hostile: list[Any]) -> None:
    """Well-framed hostile messages interleaved with a genuine client's calls.

    Until the server closes the connection, every genuine call gets exactly one answer.
    """
    client, server = Side(server=False), Side(server=True)
    server.feed(client.take_output())
    client.feed(server.take_output())
    closed = False
    for item in hostile:
        data = client.call("echo", "marker")
        try:
            server.feed(frame(encode(item)) + data)
            client.feed(server.take_output())
        except ALLOWED:
            closed = True
            break
    if not closed:
        assert client.answered == client.asked
    client.finish()
    server.finish()


@fuzz_settings(150)
@given(st.lists(stream_messages(st.sampled_from([1, 2, 1, 2, 3])), min_size=1, max_size=8), cuts)
def test_stream_messages_into_open_streams(hostile: list[Any], cut: list[int]) -> None:
    """Stream messages (items as arrays or as one COLUMNS value, ends, credit, cancels) for
    streams 1 and 2, which a call of the peer opened, between peers that both list "streams"
    and "columns": events or a closed connection, the tables bounded, what the items hold
    never negative, and nothing left once the line closes."""
    client, server = Side(server=False), Side(server=True)
    server.feed(client.take_output())
    client.feed(server.take_output())
    assert server.broker._codec.peer_takes_columns
    opening = [1, 1, [0, 0], "echo", [Tag(tags.STREAM, 1), Tag(tags.STREAM, 2)]]
    data = b"".join(frame(encode(message)) for message in [opening, *hostile])
    _feed_all(server, data, cut)
    server.finish()


@fuzz_settings(150)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.builds(lambda i: [0, i], st.integers(0, 6)), st.just([1, 1])),
            st.sampled_from(["echo", "boom", "kind", "make", "nope", "_private", "x" * 200]),
            st.lists(values, max_size=3),
            st.dictionaries(st.text(max_size=4), values, max_size=2),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_well_shaped_sends_are_never_answered(sends: list[tuple[Any, str, Any, Any]]) -> None:
    """SENDs of any target, method and values, between peers that both offer "oneway": each
    is delivered or dropped, and no answer is ever sent for one (a refused value drops its
    SEND, never makes a FAIL): only the RELEASE of a reference it carried (5.4), the
    STREAM_CANCEL of a stream it carried (3.6), and an ABORT when a value is malformed CBOR."""
    client, server = Side(server=False), Side(server=True)
    server.feed(client.take_output())
    client.feed(server.take_output())
    assert server.broker.oneway
    sent_before = len(server.sent)
    with contextlib.suppress(*ALLOWED):
        for target, method, args, kwargs in sends:
            server.feed(frame(encode([14, target, method, args, kwargs])))
    out = server.sent[sent_before:]
    if server.closed is not None:
        assert out.pop()[0] == 6
    assert {message[0] for message in out} <= {5, 10}
    carried = _stream_ids([args for _, _, args, _ in sends] + [kw for *_, kw in sends])
    assert {message[1] for message in out if message[0] == 10} <= carried


def _stream_ids(node: Any, depth: int = 0) -> set[Any]:
    """The ids of the STREAM tags anywhere in a generated value (a small, finite tree)."""
    if depth > 64:
        return set()
    if isinstance(node, Tag):
        # Only an integer can name a stream (anything else is refused, never cancelled).
        found = {node.item} if node.number == tags.STREAM and type(node.item) is int else set()
        return found | _stream_ids(node.item, depth + 1)
    if isinstance(node, Arr):
        children = list(node.items)
    elif isinstance(node, Map):
        children = [part for pair in node.pairs for part in pair]
    elif isinstance(node, Nest):
        children = [node.item]
    elif isinstance(node, dict):
        children = [*node.keys(), *node.values()]
    elif isinstance(node, list | tuple):
        children = list(node)
    else:
        return set()
    return set().union(*(_stream_ids(child, depth + 1) for child in children))


def test_a_dropped_send_cancels_the_streams_it_carried() -> None:
    """The case CI's examples found: a SEND to an answer ([1, N], never allowed) carrying a
    stream is dropped, and its stream cancelled (3.6, 3.8) rather than left open."""
    client, server = Side(server=False), Side(server=True)
    server.feed(client.take_output())
    client.feed(server.take_output())
    sent_before = len(server.sent)
    server.feed(frame(encode([14, [1, 1], "echo", [], {"": Tag(tags.STREAM, 1)}])))
    assert [message[:2] for message in server.sent[sent_before:]] == [[10, 1]]
    assert server.closed is None
    client.finish()
    server.finish()


@fuzz_settings(150)
@given(
    st.lists(
        st.sampled_from(["echo", "make", "keep", "drop", "copy", "boom", "kind"]),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from(["up", "down"]),
    st.integers(min_value=0, max_value=4096),
    st.binary(min_size=1, max_size=4),
)
def test_pair_with_a_corrupting_link(
    workload: list[str], direction: str, offset: int, damage: bytes
) -> None:
    """Two brokers talking genuinely while the link overwrites bytes at one offset.

    Once either side closes, both do (TCP carries the close), every pending call is handed
    back as lost, and both sides' tables are empty.
    """
    client, server = Side(server=False), Side(server=True)
    carried = {"up": 0, "down": 0}

    def carry(way: str, data: bytes) -> bytes:
        start = carried[way]
        carried[way] += len(data)
        if way != direction or not start <= offset < carried[way]:
            return data
        buf = bytearray(data)
        i = offset - start
        buf[i : i + len(damage)] = damage
        return bytes(buf)

    def pump() -> None:
        for _ in range(20):  # a few round trips at most; bounded whatever the damage
            up, down = client.take_output(), server.take_output()
            if not up and not down:
                return
            if up:
                server.feed(carry("up", up))
            if down:
                client.feed(carry("down", down))

    refs: list[Any] = []
    try:
        pump()
        for op in workload:
            if not client.broker.is_open:
                break  # the damage hit the handshake: nothing more can be sent
            args: tuple[Any, ...] = ()
            if op == "keep" and refs:
                args = (refs[-1],)
            elif op == "echo":
                args = ([1, "two", Point(x=3, y=4), (5,)],)
            client.outbox += client.call(op, *args)
            pump()
            refs.extend(v for v in client.values if isinstance(v, pb.RemoteReference | Thing))
    except ALLOWED:
        pass
    refs.clear()
    if client.closed or server.closed:
        # TCP carries the close to the other side: pending calls come back as lost.
        lost = client.broker.connection_lost()
        assert set(lost) <= client.asked - client.answered
    client.finish()
    server.finish()


# -- references naming their interfaces ------------------------------------------------------


# Well-formed CBOR that is not a list of names (malformed CBOR closes, as anywhere).
not_names = st.recursive(
    st.none() | st.integers() | st.text(max_size=4) | st.binary(max_size=3) | name_lists,
    lambda child: st.lists(child, max_size=3),
    max_leaves=6,
)


@fuzz_settings(200)
@given(st.lists(st.tuples(forged_ids, not_names), min_size=1, max_size=8))
def test_references_naming_their_interfaces(refs: list[tuple[Any, Any]]) -> None:
    """SENDER_REF's names form, well shaped or not, from a peer offering "interfaces": each
    call carrying one is answered (run, or refused as a value) and the connection stays."""
    server = Side(server=True)
    server.feed(_hello())
    for qid, (export_id, names) in enumerate(refs, 1):
        ref = Tag(tags.SENDER_REF, [export_id, names])
        server.feed(frame(encode([1, qid, [0, 0], "echo", [ref]])))
    answered = [m[1] for m in server.sent if m[0] in (2, 3)]
    assert answered == list(range(1, len(refs) + 1))
    server.finish()


# -- huge integers where the broker names a value in an error message -------------------------

HUGE = 10**5000  # more decimal digits than int-to-str conversion allows (4300)

HUGE_SHAPES = {
    "unknown kind": lambda n: [n],
    "return question id": lambda n: [2, n, "x"],
    "fail question id": lambda n: [3, n, {"type": "t", "message": "m"}],
    "finish question id": lambda n: [4, n],
    "release count": lambda n: [5, 1, n],
    "call question id": lambda n: [1, n, [0, 0], "echo", [], {}],
    "call target": lambda n: [1, 1, [0, n], "echo", [], {}],
}


@pytest.mark.parametrize("shape", sorted(HUGE_SHAPES))
def test_huge_integers_are_a_protocol_error(shape: str) -> None:
    server = Side(server=True)
    server.feed(_hello())
    with pytest.raises(pb.RemoteProtocolError):
        server.feed(frame(cbor2.dumps(HUGE_SHAPES[shape](-HUGE))))


def test_huge_integer_in_hello_is_a_protocol_error() -> None:
    server = Side(server=True)
    body = cbor2.dumps([0, {"protocol": "pbtyped", "version": 1, "max_frame_size": -HUGE}])
    with pytest.raises(pb.RemoteProtocolError):
        server.feed(frame(body))
