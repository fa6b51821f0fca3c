"""Server.drain() and GOODBYE (issue 15 item 2; docs/protocol.md, GOODBYE).

A draining server stops accepting, says GOODBYE to peers that list "goodbye", lets the calls
in flight finish within the grace, fails later calls with GoingAway and closes every
connection. A normal close between peers that list "goodbye" sends GOODBYE first.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import cbor2
import pytest

import pbtyped as pb

from ..support import eventually


class Slow(pb.Root):
    """``hold`` runs until ``release`` is set; ``echo`` answers at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = 0
        self.cancelled = 0
        self.detached = 0

    def remote_echo(self, value: object) -> object:
        return value

    async def remote_hold(self, value: object) -> object:
        self.started += 1
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return value

    def remote_item(self) -> Item:
        return Item(self)


class Item(pb.Referenceable):
    def __init__(self, root: Slow) -> None:
        self.root = root

    def pb_detached(self, connection: object) -> None:
        self.root.detached += 1


def frame(message: list[Any]) -> bytes:
    body = cbor2.dumps(message)
    return struct.pack(">II", len(body), 0) + body


def hello(*features: str) -> bytes:
    info = {"protocol": "pbtyped", "version": 1, "max_frame_size": 1 << 20}
    return frame([0, {**info, "features": list(features)}])


async def read_message(reader: asyncio.StreamReader) -> Any:
    """The next message the peer sends (IncompleteReadError at its end of stream)."""
    return await _body(reader, await reader.readexactly(8))


async def read_messages(reader: asyncio.StreamReader) -> list[Any]:
    """Every message the peer sends until its end of stream (bounded by the test's run); a
    frame cut short raises."""
    out: list[Any] = []
    while True:
        try:
            header = await reader.readexactly(8)
        except asyncio.IncompleteReadError:
            return out
        out.append(await _body(reader, header))


async def _body(reader: asyncio.StreamReader, header: bytes) -> Any:
    size, attached = struct.unpack(">II", header)
    return cbor2.loads(await reader.readexactly(size + attached))


async def holding(root: Slow) -> tuple[pb.Server, pb.Client, Any, asyncio.Future[Any]]:
    """A server of ``root``, a client, its root, and a call of ``hold`` now running."""
    server = await pb.serve(root).start()
    client = await pb.connect("127.0.0.1", server.port)
    ref = await client.root()
    held = asyncio.ensure_future(ref.call_remote("hold", "kept"))
    await eventually(lambda: root.started == 1)
    return server, client, ref, held


def test_in_flight_calls_finish_within_the_grace_and_late_ones_get_going_away(run) -> None:
    async def body() -> None:
        root = Slow()
        server, client, ref, held = await holding(root)
        port = server.port
        assert not server.draining
        drain = asyncio.ensure_future(server.drain(grace=10.0, reason="deploying v2"))
        await asyncio.sleep(0)
        assert server.draining
        await eventually(lambda: client.connection.broker.peer_leaving is not None)
        assert client.connection.broker.peer_leaving == "deploying v2"
        # The client starts no new call on a connection whose peer said GOODBYE.
        with pytest.raises(pb.GoingAway, match="deploying v2"):
            await ref.call_remote("echo", 1)
        assert not drain.done()  # the call in flight holds the connection open
        root.release.set()
        assert await held == "kept"
        await asyncio.wait_for(drain, 5)
        assert server.connections == set()
        await asyncio.wait_for(client.connection.wait_closed(), 5)
        assert not client.is_connected
        with pytest.raises(ConnectionRefusedError):  # it no longer accepts
            await pb.connect("127.0.0.1", port, timeout=2)

    run(body)


def test_grace_expiry_cancels_what_still_runs(run) -> None:
    async def body() -> None:
        root = Slow()
        server, _, _, held = await holding(root)
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.wait_for(server.drain(grace=0.3), 5)
        assert loop.time() - start >= 0.3
        with pytest.raises(pb.ConnectionLost):
            await held
        await eventually(lambda: root.cancelled == 1)

    run(body)


def test_a_drain_with_nothing_in_flight_closes_at_once_and_runs_pb_detached(run) -> None:
    async def body() -> None:
        root = Slow()
        server = await pb.serve(root).start()
        client = await pb.connect("127.0.0.1", server.port)
        ref = await client.root()
        item = await ref.call_remote("item")
        assert item is not None
        assert root.detached == 0
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.wait_for(server.drain(grace=30.0), 5)
        assert loop.time() - start < 5
        assert root.detached == 1
        await asyncio.wait_for(client.connection.wait_closed(), 5)

    run(body)


async def drained_while_holding(greeting: bytes, late: bytes = b"", **drain: Any) -> list[Any]:
    """A raw peer sends ``greeting`` and a call of ``hold`` (question 7); the server drains
    while it runs and the peer then sends ``late``. Every message the peer got."""
    root = Slow()
    server = await pb.serve(root).start()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(greeting + frame([1, 7, [0, 0], "hold", ["kept"]]))
        await eventually(lambda: root.started == 1)
        draining = asyncio.ensure_future(server.drain(**drain))
        await asyncio.sleep(0.05)
        writer.write(late)
        await asyncio.sleep(0.05)
        root.release.set()
        messages = await asyncio.wait_for(read_messages(reader), 5)
        await asyncio.wait_for(draining, 5)
    finally:
        writer.close()
    return messages


def test_a_call_read_after_the_goodbye_fails_with_going_away_at_a_peer_without_goodbye(
    run,
) -> None:
    """A peer that does not list "goodbye" is sent no GOODBYE; its call that arrives during
    the drain is answered with a FAIL of type pbtyped.GoingAway (it did not run)."""

    async def body() -> None:
        late = frame([1, 8, [0, 0], "echo", ["late"]])
        messages = await drained_while_holding(hello(), late, grace=10.0)
        assert [msg[0] for msg in messages] == [0, 3, 2]  # no GOODBYE: not listed
        assert messages[1][1] == 8
        assert messages[1][2]["type"] == "pbtyped.GoingAway"
        assert messages[1][2]["message"] == (
            "the peer is going away (server shutting down); this call did not run"
        )
        assert messages[2] == [2, 7, "kept"]

    run(body)


def test_a_peer_with_goodbye_is_told_the_reason_grace_and_last_question(run) -> None:
    async def body() -> None:
        messages = await drained_while_holding(
            hello("goodbye"), grace=2.5, reason="rolling restart"
        )
        assert messages[1:] == [[13, "rolling restart", 2500, 7], [2, 7, "kept"]]

    run(body)


@pytest.mark.parametrize("listed", [True, False], ids=["goodbye", "no-goodbye"])
def test_a_normal_close_sends_goodbye_first_only_to_a_peer_that_lists_it(run, listed: bool) -> None:
    async def body() -> None:
        server = await pb.serve(Slow()).start()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(hello("goodbye") if listed else hello("keepalive"))
            await eventually(lambda: len(server.connections) == 1)
            await asyncio.sleep(0.05)  # the Hello is read
            await server.aclose()
            messages = await asyncio.wait_for(read_messages(reader), 5)
        finally:
            writer.close()
        assert messages[0][0] == 0
        assert messages[1:] == ([[13, "connection closed normally", 0, 0]] if listed else [])

    run(body)


def test_a_goodbye_from_a_peer_that_did_not_list_it_closes_the_connection(run) -> None:
    async def body() -> None:
        server = await pb.serve(Slow()).start()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(hello() + frame([13, "bye", 0, 0]))
            messages = await asyncio.wait_for(read_messages(reader), 5)
        finally:
            writer.close()
        assert messages[1:] == [
            [6, "message of the 'goodbye' feature, which both Hellos did not list"]
        ]
        await server.aclose()

    run(body)


def test_a_call_that_crosses_the_goodbye_is_refused_with_going_away_not_cut_off(run) -> None:
    """The server reads a peer told GOODBYE until that peer closes its side: a call of the
    peer's that crossed the GOODBYE (sent after the last answer it was owed) is answered
    with GoingAway, which says it did not run, instead of meeting a closed line, which
    leaves that open. Once the peer closes, so does the server, long before the grace."""

    async def body() -> None:
        root = Slow()
        server = await pb.serve(root).start()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(hello("goodbye") + frame([1, 7, [0, 0], "hold", ["kept"]]))
            await eventually(lambda: root.started == 1)
            loop = asyncio.get_running_loop()
            start = loop.time()
            draining = asyncio.ensure_future(server.drain(grace=30.0))
            await asyncio.sleep(0)  # the GOODBYE is written
            root.release.set()
            got = [await asyncio.wait_for(read_message(reader), 5) for _ in range(3)]
            assert [msg[0] for msg in got] == [0, 13, 2]
            await asyncio.sleep(0.2)  # the drain looks at the line several times meanwhile
            writer.write(frame([1, 8, [0, 0], "echo", ["late"]]))
            refused = await asyncio.wait_for(read_message(reader), 5)
            assert refused[:2] == [3, 8]
            assert refused[2]["type"] == "pbtyped.GoingAway"
            assert not draining.done()
            writer.write_eof()
            assert await asyncio.wait_for(read_messages(reader), 5) == []
            await asyncio.wait_for(draining, 5)
            assert loop.time() - start < 10
        finally:
            writer.close()

    run(body)


def test_a_peer_told_goodbye_that_never_closes_is_closed_when_the_grace_ends(run) -> None:
    async def body() -> None:
        server = await pb.serve(Slow()).start()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(hello("goodbye"))
            await eventually(lambda: len(server.connections) == 1)
            await asyncio.sleep(0.05)  # the Hello is read
            loop = asyncio.get_running_loop()
            start = loop.time()
            await asyncio.wait_for(server.drain(grace=0.3, reason="bye"), 5)
            assert loop.time() - start >= 0.3
            messages = await asyncio.wait_for(read_messages(reader), 5)
        finally:
            writer.close()
        assert messages[1:] == [[13, "bye", 300, 0]]

    run(body)


@pytest.mark.parametrize("pending", [False, True], ids=["idle", "call-pending"])
def test_a_client_told_goodbye_closes_its_side_once_its_calls_are_answered(
    run, pending: bool
) -> None:
    """The receiving side of a GOODBYE with a grace closes the line itself once no call is
    under way (docs/protocol.md 3.7), after the answers it waits for: a raw server says
    GOODBYE (grace 30 s) and sees the client's GOODBYE and end of stream."""

    async def body() -> None:
        heard: list[Any] = []
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def raw_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(hello("goodbye"))
            heard.append(await read_message(reader))  # the client's Hello
            if pending:
                heard.append(await read_message(reader))  # its CALL
            writer.write(frame([13, "restart", 30000, heard[-1][1] if pending else 0]))
            if pending:
                await asyncio.sleep(0.1)  # the client must wait for this answer
                writer.write(frame([2, heard[-1][1], "answered"]))
            heard.extend(await read_messages(reader))  # until the client's end of stream
            writer.close()
            done.set_result(None)

        listener = await asyncio.start_server(raw_server, "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        client = await pb.connect("127.0.0.1", port)
        try:
            if pending:
                root = await client.root()
                assert await asyncio.wait_for(root.call_remote("echo", "x"), 5) == "answered"
            await asyncio.wait_for(done, 5)
            await asyncio.wait_for(client.connection.wait_closed(), 5)
        finally:
            await client.aclose()
            listener.close()
        assert [msg[0] for msg in heard] == [0, 1, 13] if pending else [0, 13]
        assert heard[-1] == [13, "connection closed normally", 0, 0]

    run(body)
