"""Records in streams travel in columns (issue 14 item 1): items declared
``list[SomeDataclass]`` both ways, and a frame's batch of single records, between peers that
both list "columns"; plain lists otherwise; a bad record still fails the stream at its path."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import cbor2
import pytest

import pbtyped as pb
from pbtyped.protocol import messages
from pbtyped.protocol.broker import Broker
from pbtyped.runtime.streams import COLUMN_BATCH, ColumnItems
from pbtyped.typed import support
from pbtyped.wire import tags

from ..protocol.wiring import decode_frames


@dataclasses.dataclass
class Row:
    key: int
    name: str


REGISTRY = pb.Registry()
REGISTRY.register_type(Row, "t.Row")

SPEC = support.interface(
    "t.Rows",
    batches=support.method(support.param("count", int), returns=AsyncIterator[list[Row]]),
    rows=support.method(support.param("count", int), returns=AsyncIterator[Row]),
    store=support.method(support.param("batches", AsyncIterator[list[Row]]), returns=int),
)


class RowsClient(pb.Stub):
    """What ``pbtyped generate`` writes for ``t.Rows``, by hand."""

    __slots__ = ()
    pb_interface = "t.Rows"

    def batches(self, count: int) -> AsyncIterator[list[Row]]:
        return support.stream(SPEC, self, "batches", (count,), {})

    def rows(self, count: int) -> AsyncIterator[Row]:
        return support.stream(SPEC, self, "rows", (count,), {})

    def store(self, batches: AsyncIterator[list[Row]]) -> pb.Promise[int]:
        return support.invoke(SPEC, self, "store", (batches,), {}, None, pb.Promise)


class Rows(pb.Root):
    """The skeleton and its methods; ``bad`` makes the third record of every batch wrong."""

    pb_interface = "t.Rows"

    def __init__(self, bad: bool = False) -> None:
        self.bad = bad
        self.stored: list[Any] = []

    def pb_dispatch(self, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        return support.dispatch(SPEC, self, method, args, kwargs)

    async def remote_batches(self, count: int) -> AsyncIterator[list[Row]]:
        for i in range(count):
            rows = [Row(i * 10 + j, f"r{j}") for j in range(10)]
            if self.bad:
                rows[2] = Row(i, 3)  # type: ignore[arg-type]
            yield rows

    async def remote_rows(self, count: int) -> AsyncIterator[Row]:
        for i in range(count):
            yield Row(i, "x" if not self.bad or i != 5 else None)  # type: ignore[arg-type]

    async def remote_store(self, batches: AsyncIterator[list[Row]]) -> int:
        async for batch in batches:
            self.stored.append(batch)
        return sum(len(b) for b in self.stored)


async def sent_rows(count: int) -> AsyncIterator[list[Row]]:
    for i in range(count):
        yield [Row(i, "a"), Row(i + 1, "b"), Row(i + 2, "c")]


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytearray]:
    """Every byte each side received in the test, by side ("server", "client")."""
    received: dict[str, bytearray] = {"server": bytearray(), "client": bytearray()}
    receive_data = Broker.receive_data

    def recording(self: Broker, data: bytes) -> Any:
        received["server" if self.exports.get(0) is not None else "client"] += data
        return receive_data(self, data)

    monkeypatch.setattr(Broker, "receive_data", recording)
    return received


def stream_items(data: bytes) -> list[Any]:
    """The items field of every STREAM_ITEMS frame in ``data`` (tags kept as CBORTag)."""
    return [message[2] for message in decode_frames(bytes(data))[1:] if message[0] == 7]


def is_columns(value: Any) -> bool:
    return isinstance(value, cbor2.CBORTag) and value.tag == tags.COLUMNS


async def round_trip(server_root: Rows) -> tuple[list[Any], list[Any], int]:
    async with (
        pb.serve(server_root, registry=REGISTRY) as server,
        pb.connect("127.0.0.1", server.port, registry=REGISTRY) as client,
    ):
        rows = await client.root(RowsClient)
        batches = [b async for b in rows.batches(3)]
        singles = [r async for r in rows.rows(100)]
        stored = await rows.store(sent_rows(4))
    return batches, singles, stored


def test_lists_of_records_travel_in_columns_both_ways(run, wire: dict[str, bytearray]) -> None:
    server_root = Rows()
    batches, singles, stored = run(lambda: round_trip(server_root))
    assert batches == [[Row(i * 10 + j, f"r{j}") for j in range(10)] for i in range(3)]
    assert all(type(batch) is list for batch in batches)  # never a Columns on arrival
    assert singles == [Row(i, "x") for i in range(100)]
    assert stored == 12
    assert server_root.stored == [[Row(i, "a"), Row(i + 1, "b"), Row(i + 2, "c")] for i in range(4)]
    assert all(type(batch) is list for batch in server_root.stored)
    # Server -> client: every list item in columns, and batches of single records as one
    # COLUMNS value in place of the items array.
    to_client = stream_items(wire["client"])
    lists = [item for items in to_client if type(items) is list for item in items]
    assert len(lists) == 3
    assert all(is_columns(item) and item.value[0] == "t.Row" for item in lists)
    assert any(is_columns(items) for items in to_client)
    assert sum(len(i.value[1][0]) for i in to_client if is_columns(i)) >= 100 - COLUMN_BATCH
    # Client -> server: the argument stream's lists in columns too.
    to_server = [item for items in stream_items(wire["server"]) for item in items]
    assert len(to_server) == 4
    assert all(is_columns(item) for item in to_server)


def test_a_peer_without_columns_gets_plain_lists(
    run, wire: dict[str, bytearray], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(messages, "FEATURES", tuple(f for f in messages.FEATURES if f != "columns"))
    server_root = Rows()
    batches, singles, stored = run(lambda: round_trip(server_root))
    assert batches == [[Row(i * 10 + j, f"r{j}") for j in range(10)] for i in range(3)]
    assert singles == [Row(i, "x") for i in range(100)]
    assert stored == 12
    for side in ("client", "server"):
        assert b"t.Row" in wire[side]  # records went, as copies
        for items in stream_items(wire[side]):
            assert type(items) is list
            assert not any(is_columns(item) for item in items)


def test_a_bad_record_fails_the_stream_at_its_path(run) -> None:
    async def body() -> None:
        async with (
            pb.serve(Rows(bad=True), registry=REGISTRY) as server,
            pb.connect("127.0.0.1", server.port, registry=REGISTRY) as client,
        ):
            rows = await client.root(RowsClient)
            batches = rows.batches(3)
            with pytest.raises(pb.ValidationError) as caught:
                await anext(batches)
            await batches.aclose()  # type: ignore[attr-defined]
            assert str(caught.value) == "$.items[0][2].name: expected str, got integer"
            taken: list[Row] = []

            async def take() -> None:
                async for row in rows.rows(20):
                    taken.append(row)

            with pytest.raises(pb.ValidationError) as caught:
                await take()
            assert str(caught.value) == "$.items[5].name: expected str, got null"
            assert len(taken) == 5
            # The connection goes on.
            assert [r async for r in rows.rows(2)] == [Row(0, "x"), Row(1, "x")]
            assert await rows.store(sent_rows(2)) == 6

    run(body)


def test_our_own_object_called_in_place_gives_plain_lists(run) -> None:
    async def body() -> None:
        rows = RowsClient(Rows())  # type: ignore[arg-type]
        batches = [b async for b in rows.batches(2)]
        assert batches == [[Row(i * 10 + j, f"r{j}") for j in range(10)] for i in range(2)]
        assert all(type(batch) is list for batch in batches)
        assert await rows.store(sent_rows(2)) == 6

    run(body)


def test_only_streams_of_lists_of_records_are_marked() -> None:
    async def source() -> AsyncIterator[Any]:
        yield [Row(1, "a")]
        yield (Row(2, "b"),)

    marked_args, _ = SPEC.methods["store"].pack((source(),), {})
    assert type(marked_args[0]) is ColumnItems
    assert SPEC.methods["rows"].result_columns is None
    assert SPEC.methods["batches"].result_columns is not None
    assert not SPEC.methods["rows"].column_names
    # A value that is not an async iterator is left for the checks to refuse.
    assert SPEC.methods["store"].pack(([Row(1, "a")],), {})[0] == ([Row(1, "a")],)
