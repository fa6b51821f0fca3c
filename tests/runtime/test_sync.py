"""The blocking client (issue 12, item 7): pbtyped.sync from plain threads and beside a loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

import pbtyped as pb
from pbtyped import sync


class Refused(pb.Error):
    pass


REGISTRY = pb.Registry()
REGISTRY.register_error(Refused, "tests.sync.Refused")


class Counter(pb.Referenceable):
    def __init__(self) -> None:
        self.n = 0

    def remote_add(self, k: int) -> int:
        self.n += k
        return self.n


class Service(pb.Root):
    def __init__(self) -> None:
        self._gate: asyncio.Event | None = None

    def _the_gate(self) -> asyncio.Event:
        if self._gate is None:
            self._gate = asyncio.Event()
        return self._gate

    async def remote_gate(self, value: str) -> str:
        await self._the_gate().wait()
        return value

    def remote_open(self) -> None:
        self._the_gate().set()

    def remote_echo(self, value: object) -> object:
        return value

    def remote_join(self, a: str, b: str, *, sep: str = "-") -> str:
        return f"{a}{sep}{b}"

    def remote_refuse(self, why: str) -> None:
        raise Refused(why)

    async def remote_slow(self, seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "late"

    def remote_counter(self) -> Counter:
        return Counter()

    async def remote_call_back(self, ref: pb.RemoteReference, value: str) -> object:
        return await ref.call_remote("hear", value)


@pytest.fixture
def server() -> Iterator[int]:
    """A pbtyped server on 127.0.0.1 running on a loop thread of its own; yields its port."""
    with sync.EventLoopThread(name="test-server") as loop_thread:

        async def start() -> pb.Server:
            return await pb.serve(Service(), "127.0.0.1", 0, registry=REGISTRY).start()

        srv = loop_thread.run(start())
        try:
            yield srv.port
        finally:
            loop_thread.run(srv.aclose())


def test_calls_block_and_return_results(server: int) -> None:
    with sync.connect("127.0.0.1", server, registry=REGISTRY) as client:
        root = client.root()
        assert isinstance(root, sync.SyncReference)
        assert root.call_remote("echo", [1, "two", None]) == [1, "two", None]
        assert root.call_remote("join", "a", "b", sep="+") == "a+b"
        assert client.is_connected
    assert not client.is_connected
    assert not client.runner.loop.is_running()


def test_errors_are_the_async_apis_classes(server: int) -> None:
    with sync.connect("127.0.0.1", server, registry=REGISTRY) as client:
        root = client.root()
        with pytest.raises(Refused, match="no thanks"):
            root.call_remote("refuse", "no thanks")
        with pytest.raises(pb.NoSuchMethod):
            root.call_remote("nope")
        with pytest.raises(pb.CallTimeout, match=r"slow\(\) got no answer within 0.05 s"):
            root.call_remote("slow", 5.0, pb_timeout=0.05)
        # the connection is still good after all three
        assert root.call_remote("echo", "still here") == "still here"


def test_references_in_results_are_wrapped_on_request(server: int) -> None:
    with sync.connect("127.0.0.1", server, registry=REGISTRY) as client:
        counter = client.wrap(client.root().call_remote("counter"))
        assert counter.call_remote("add", 2) == 2
        assert counter.call_remote("add", 3) == 5
        counter.release()
        with pytest.raises(pb.DeadReferenceError):
            counter.call_remote("add", 1)


def test_usable_from_a_worker_thread_of_an_app_that_runs_a_loop(server: int) -> None:
    def blocking_work() -> object:
        with sync.connect("127.0.0.1", server, registry=REGISTRY) as client:
            # Blocks until the app's own loop, still running, opens the gate.
            return client.root().call_remote("gate", threading.current_thread().name, pb_timeout=30)

    async def app() -> object:
        worker = asyncio.ensure_future(asyncio.to_thread(blocking_work))
        async with pb.connect("127.0.0.1", server, registry=REGISTRY) as client:
            root = await client.root()
            await root.call_remote("open")
        return await worker

    result = asyncio.run(app())
    assert isinstance(result, str)
    assert result != threading.current_thread().name


def test_a_blocking_call_on_the_loop_thread_is_refused_not_a_hang(server: int) -> None:
    with sync.connect("127.0.0.1", server, registry=REGISTRY) as client:
        root = client.root()

        class Listener(pb.Referenceable):
            def remote_hear(self, value: str) -> str:
                # Runs on the client's loop thread: a blocking call here could never finish.
                try:
                    root.call_remote("echo", value)
                except RuntimeError as exc:
                    return f"refused: {exc}"
                return "not refused"

        answer = root.call_remote("call_back", Listener(), "x")
        assert isinstance(answer, str)
        assert answer.startswith("refused: a blocking pbtyped call was made on the client's own")


def test_a_shared_loop_thread_outlives_its_clients(server: int) -> None:
    with sync.EventLoopThread() as shared:
        first = sync.connect("127.0.0.1", server, registry=REGISTRY, runner=shared)
        second = sync.connect("127.0.0.1", server, registry=REGISTRY, runner=shared)
        assert first.root().call_remote("echo", 1) == 1
        first.close()
        assert second.root().call_remote("echo", 2) == 2
        second.close()
        assert shared.loop.is_running()
    assert shared.closed


def test_a_failed_connect_raises_and_leaves_no_thread() -> None:
    before = threading.active_count()
    with socket_bound_not_listening() as port, pytest.raises(ConnectionRefusedError):
        sync.connect("127.0.0.1", port, timeout=5)
    assert threading.active_count() == before


def test_a_closed_loop_thread_refuses_work() -> None:
    loop_thread = sync.EventLoopThread()
    loop_thread.close()

    async def nothing() -> None:
        return None

    with pytest.raises(RuntimeError, match="closed"):
        loop_thread.run(nothing())


class socket_bound_not_listening:
    """A port on 127.0.0.1 that is bound but not listening: connecting to it is refused."""

    def __enter__(self) -> int:
        import socket

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        port: int = self._sock.getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
