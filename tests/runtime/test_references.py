"""Item 3 (references both ways, identity, confinement) and item 7 (reference counting)."""

from __future__ import annotations

import pytest

import pbtyped as pb

from .conftest import eventually


class Two(pb.Referenceable):
    def __init__(self) -> None:
        self.seen: list[int] = []

    def remote_three(self, arg: int) -> int:
        self.seen.append(arg)
        return arg * 3


class One(pb.Root):
    def __init__(self) -> None:
        self.two = Two()
        self.received: list[object] = []

    def remote_get_two(self) -> Two:
        return self.two

    def remote_new_two(self) -> Two:
        return Two()

    def remote_check_two(self, two: object) -> bool:
        self.received.append(two)
        return two is self.two

    async def remote_take_two(self, two: pb.RemoteReference) -> int:
        self.received.append(two)
        result: int = await two.call_remote("three", 12)
        return result

    def remote_keep(self, ref: object) -> None:
        self.received.append(ref)


def test_reference_returned_and_called(run) -> None:
    async def body() -> None:
        one = One()
        async with pb.serve(one) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            two = await root.call_remote("get_two")
            assert isinstance(two, pb.RemoteReference)
            assert await two.call_remote("three", 4) == 12
            assert one.two.seen == [4]
            # The same object given twice arrives as the same proxy.
            assert await root.call_remote("get_two") is two

    run(body)


def test_reference_sent_back_arrives_as_the_original_object(run) -> None:
    async def body() -> None:
        one = One()
        async with pb.serve(one) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            two = await root.call_remote("get_two")
            assert await root.call_remote("check_two", two) is True
            assert one.received[-1] is one.two
            other = await root.call_remote("new_two")
            assert await root.call_remote("check_two", other) is False

    run(body)


def test_server_calls_back_into_a_client_object(run) -> None:
    async def body() -> None:
        one = One()
        mine = Two()
        async with pb.serve(one) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            assert await root.call_remote("take_two", mine) == 36
            assert mine.seen == [12]
            assert isinstance(one.received[-1], pb.RemoteReference)

    run(body)


def test_reference_cannot_cross_to_another_connection(run) -> None:
    async def body() -> None:
        async with (
            pb.serve(One()) as server,
            pb.connect("127.0.0.1", server.port) as first,
            pb.connect("127.0.0.1", server.port) as second,
        ):
            two = await (await first.root()).call_remote("get_two")
            root2 = await second.root()
            with pytest.raises(pb.InsecureTypeError, match="valid only on the connection"):
                await root2.call_remote("keep", two)
            # Nothing was sent and nothing is pending on the second connection.
            assert second.connection.broker.pending_questions == 0
            assert await root2.call_remote("check_two", await root2.call_remote("get_two"))

    run(body)


def test_dropped_references_are_released_on_the_exporter(run) -> None:
    async def body() -> None:
        async with pb.serve(One()) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            (conn,) = server.connections
            baseline = conn.broker.export_count  # the root
            assert baseline == 1
            refs = [await root.call_remote("new_two") for _ in range(10)]
            again = await root.call_remote("get_two")
            assert conn.broker.export_count == baseline + 11
            del refs, again
            await eventually(lambda: conn.broker.export_count == baseline)
            assert client.connection.broker.import_count == 1  # the root proxy

    run(body)


def test_client_exports_are_released_when_the_server_drops_them(run) -> None:
    async def body() -> None:
        one = One()
        async with pb.serve(one) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            await root.call_remote("keep", Two())
            assert client.connection.broker.export_count == 1
            one.received.clear()
            await eventually(lambda: client.connection.broker.export_count == 0)

    run(body)


def test_all_exports_released_on_disconnect(run) -> None:
    async def body() -> None:
        async with pb.serve(One()) as server:
            client = await pb.connect("127.0.0.1", server.port)
            root = await client.root()
            _keep = [await root.call_remote("new_two") for _ in range(3)]
            (conn,) = server.connections
            assert conn.broker.export_count == 4
            await client.aclose()
            await conn.wait_closed()
            assert conn.broker.export_count == 0
            assert server.connections == set()
            del _keep

    run(body)


class Tracked(pb.Referenceable):
    def __init__(self, log: list[str], name: str) -> None:
        self.log = log
        self.name = name

    def pb_detached(self, connection: object) -> None:
        self.log.append(self.name)


class Factory(pb.Root):
    def __init__(self) -> None:
        self.log: list[str] = []

    def remote_make(self, name: str) -> Tracked:
        return Tracked(self.log, name)


def test_detached_hook_runs_once_on_release_and_on_disconnect(run) -> None:
    async def body() -> None:
        factory = Factory()
        async with pb.serve(factory) as server:
            client = await pb.connect("127.0.0.1", server.port)
            root = await client.root()
            first = await root.call_remote("make", "first")
            kept = await root.call_remote("make", "kept")
            del first
            await eventually(lambda: factory.log == ["first"])
            (conn,) = server.connections
            await client.aclose()
            await conn.wait_closed()
            assert factory.log == ["first", "kept"]
            del kept

    run(body)


def test_explicit_release_frees_the_export_at_once(run) -> None:
    async def body() -> None:
        async with pb.serve(One()) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            (conn,) = server.connections
            kept = await root.call_remote("new_two")  # held by Python, released by hand
            with await root.call_remote("new_two") as scoped:
                assert await scoped.call_remote("three", 1) == 3
                assert conn.broker.export_count == 3
            await eventually(lambda: conn.broker.export_count == 2)
            with pytest.raises(pb.DeadReferenceError, match="released"):
                await scoped.call_remote("three", 1)
            kept.release()
            kept.release()  # twice is harmless
            await eventually(lambda: conn.broker.export_count == 1)
            with pytest.raises(pb.DeadReferenceError, match="released"):
                await root.call_remote("check_two", kept)
            # The same object sent again arrives as a fresh, usable proxy.
            again = await root.call_remote("get_two")
            assert await again.call_remote("three", 2) == 6

    run(body)


class WhoCalls(pb.Root):
    def remote_peer(self) -> str:
        return str(pb.current_connection().peer[0])

    async def remote_peer_later(self) -> bool:
        import asyncio

        conn = pb.current_connection()
        await asyncio.sleep(0)
        return pb.current_connection() is conn

    def remote_hang_up(self) -> None:
        pb.current_connection().close()


def test_current_connection_names_the_caller(run) -> None:
    async def body() -> None:
        async with pb.serve(WhoCalls()) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            assert await root.call_remote("peer") == "127.0.0.1"
            assert await root.call_remote("peer_later") is True
            with pytest.raises(pb.ConnectionLost):
                await root.call_remote("hang_up")
        with pytest.raises(LookupError, match="only known inside a remote call"):
            pb.current_connection()

    run(body)


def test_disconnect_callbacks_keep_their_order_and_count(run) -> None:
    """Row 12 of issue 10: disconnect callbacks live in an ordered multiset (O(1) to add and
    remove, so a peer's thousands of logins on one reference cannot make removal quadratic);
    they run in the order first added, removing one leaves the others in place, and a
    callback added twice runs twice, as with PB's list."""

    async def body() -> None:
        async with pb.serve(One()) as server:
            client = await pb.connect("127.0.0.1", server.port)
            root = await client.root()
            fired: list[int] = []
            callbacks = [lambda _ref, i=i: fired.append(i) for i in range(5)]
            for callback in callbacks:
                root.notify_on_disconnect(callback)
            root.notify_on_disconnect(callbacks[3])
            root.dont_notify_on_disconnect(callbacks[1])
            root.dont_notify_on_disconnect(callbacks[1])  # absent now: no error
            await server.aclose()
            await client.connection.wait_closed()
            assert fired == [0, 2, 3, 3, 4]

    run(body)
