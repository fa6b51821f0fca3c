"""The blocking client (issue 12, item 7): pbtyped.sync from plain threads and beside a loop."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import sys
import threading
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest

import pbtyped as pb
from pbtyped import sync
from pbtyped.codegen import generate
from pbtyped.cred import (
    AllowAnonymous,
    InMemoryScramStore,
    LoginResult,
    Portal,
    ScramChecker,
)
from pbtyped.runtime.endpoints import Client
from pbtyped.runtime.options import ConnectOptions


class Refused(pb.Error):
    pass


T = TypeVar("T")

REGISTRY = pb.Registry()
REGISTRY.register_error(Refused, "tests.sync.Refused")


class Counter(pb.Referenceable):
    def __init__(self) -> None:
        self.n = 0

    def remote_add(self, k: int) -> int:
        self.n += k
        return self.n


class Service(pb.Root):
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


@contextlib.contextmanager
def serving(root: pb.Referenceable, registry: pb.Registry) -> Iterator[int]:
    """Serve ``root`` on 127.0.0.1 from a loop thread of its own; yield the port."""
    with sync.EventLoopThread(name="test-server") as loop_thread:

        async def start() -> pb.Server:
            return await pb.serve(root, "127.0.0.1", 0, registry=registry).start()

        srv = loop_thread.run(start())
        try:
            yield srv.port
        finally:
            loop_thread.run(srv.aclose())


def beside_a_loop(blocking_work: Callable[[Callable[[], None]], T]) -> T:
    """Run ``blocking_work(midway)`` in a worker thread of an app whose loop runs meanwhile.

    The work calls ``midway()`` while its client is open: it has the app's own loop run a
    step and waits for it, which shows that loop is free while the worker uses the blocking
    client (the wait is bounded: a loop that never answers fails the test, not hangs it).
    """
    called: list[bool] = []

    async def app() -> T:
        loop = asyncio.get_running_loop()

        def midway() -> None:
            asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop).result(timeout=10)
            called.append(True)

        return await asyncio.to_thread(blocking_work, midway)

    result = asyncio.run(app())
    assert called, "the work never called midway()"
    return result


@pytest.fixture
def server() -> Iterator[int]:
    """The untyped Service, served; yields its port."""
    with serving(Service(), REGISTRY) as port:
        yield port


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
    def blocking_work(midway: Callable[[], None]) -> object:
        with sync.connect("127.0.0.1", server, registry=REGISTRY) as client:
            root = client.root()
            midway()
            return root.call_remote("echo", threading.current_thread().name)

    result = beside_a_loop(blocking_work)
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


def test_connect_options_are_pb_connects() -> None:
    # sync.connect passes its options on to pb.connect as they are, typed by ConnectOptions.
    signature = inspect.signature(pb.connect)
    named = [p.name for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY]
    hints = typing.get_type_hints(pb.connect)
    assert typing.get_type_hints(ConnectOptions) == {name: hints[name] for name in named}


def test_a_connect_option_it_does_not_know_is_refused_and_leaves_no_thread() -> None:
    before = threading.active_count()
    options: dict[str, Any] = {"timout": 5}
    with pytest.raises(TypeError, match="timout"):
        sync.connect("127.0.0.1", 1, **options)
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


# -- generated blocking stubs ---------------------------------------------------------------

SCHEMAS = Path(__file__).with_name("sync_schemas")


@pytest.fixture(scope="module")
def gen(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The module generated from ``sync_schemas/counting.py``, imported from a temporary
    package ``syncgen``."""
    base = tmp_path_factory.mktemp("syncgen")
    (base / "syncgen").mkdir()
    for name, text in generate(SCHEMAS).items():
        (base / "syncgen" / name).write_text(text, encoding="utf-8")
    sys.path.insert(0, str(base))
    try:
        return importlib.import_module("syncgen.counting")
    finally:
        sys.path.remove(str(base))


def servers(gen: ModuleType) -> tuple[type[Any], type[Any], type[Any]]:
    """The schema's Counter, Named and Service implementations."""

    class Counter(gen.CounterServer):
        def __init__(self) -> None:
            self.n = 0

        def remote_add(self, k: int) -> int:
            self.n += k
            return self.n

        def remote_release(self) -> int:
            n, self.n = self.n, 0
            return n

    class Named(Counter, gen.NamedServer):
        def __init__(self, name: str) -> None:
            super().__init__()
            self._name = name

        def remote_name(self) -> str:
            return self._name

    class Service(gen.ServiceServer):
        def __init__(self) -> None:
            self.made: list[Counter] = []

        def remote_join(self, a: str, b: str = "", *, sep: str = "-") -> str:
            return f"{a}{sep}{b}"

        def remote_refuse(self, why: str) -> None:
            raise gen.Refused(why)

        async def remote_slow(self, seconds: float) -> str:
            await asyncio.sleep(seconds)
            return "late"

        def remote_counter(self) -> Counter:
            self.made.append(Counter())
            return self.made[-1]

        def remote_named(self, name: str) -> Named:
            return Named(name)

        def remote_maybe(self, found: bool) -> Counter | None:
            return self.remote_counter() if found else None

        def remote_counters(self, n: int) -> list[Counter]:
            return [self.remote_counter() for _ in range(n)]

        async def remote_total(self, counter: Any, more: list[Any]) -> int:
            given = [counter, *more] if counter is not None else more
            return sum([await c.add(0) for c in given])

        def remote_mine(self, counter: Any) -> bool:
            return any(pb.local_object(counter) is c for c in self.made)

    return Counter, Named, Service


@pytest.fixture
def typed_server(gen: ModuleType) -> Iterator[int]:
    """The schema's Service, served; yields its port."""
    _, _, service = servers(gen)
    with serving(service(), gen.REGISTRY) as port:
        yield port


def test_a_blocking_stub_takes_the_stubs_arguments_and_returns_plain_results(
    gen: ModuleType, typed_server: int
) -> None:
    with sync.connect("127.0.0.1", typed_server, registry=gen.REGISTRY) as client:
        service = client.root(gen.ServiceSyncClient)
        assert type(service) is gen.ServiceSyncClient
        assert type(service.pb_stub) is gen.ServiceClient
        assert service.join("a", "b", sep="+") == "a+b"
        assert service.join("a") == "a-"
        assert service.join(a="x", b="y", pb_timeout=5) == "x-y"


def test_a_blocking_stub_raises_the_async_apis_errors(gen: ModuleType, typed_server: int) -> None:
    with sync.connect("127.0.0.1", typed_server, registry=gen.REGISTRY) as client:
        service = client.root(gen.ServiceSyncClient)
        with pytest.raises(gen.Refused, match="no thanks"):
            service.refuse("no thanks")
        with pytest.raises(pb.CallTimeout, match=r"slow\(\) got no answer within 0.05 s"):
            service.slow(5.0, pb_timeout=0.05)
        with pytest.raises(pb.ValidationError, match=r"\$\.a: expected str, got integer"):
            service.join(1)
        assert service.join("still", "here") == "still-here"


def test_interface_results_come_back_as_blocking_stubs(gen: ModuleType, typed_server: int) -> None:
    with sync.connect("127.0.0.1", typed_server, registry=gen.REGISTRY) as client:
        service = client.root(gen.ServiceSyncClient)
        counter = service.counter()
        assert type(counter) is gen.CounterSyncClient
        assert counter.add(2) == 2
        assert counter.add(3) == 5
        assert counter.release() == 5  # the schema's method, not the reference's release
        assert counter.add(1) == 1
        named = service.named("n")
        assert type(named) is gen.NamedSyncClient
        assert isinstance(named, gen.CounterSyncClient)
        assert (named.name(), named.add(4)) == ("n", 4)
        assert service.maybe(False) is None
        maybe = service.maybe(True)
        assert type(maybe) is gen.CounterSyncClient
        assert maybe.add(7) == 7


def test_interface_parameters_take_blocking_async_and_local_objects(
    gen: ModuleType, typed_server: int
) -> None:
    local_counter, _, _ = servers(gen)
    with sync.connect("127.0.0.1", typed_server, registry=gen.REGISTRY) as client:
        service = client.root(gen.ServiceSyncClient)
        counter = service.counter()
        counter.add(2)
        # A blocking stub is sent as its reference: the server finds its own object.
        assert service.mine(counter) is True
        assert service.mine(counter.pb_stub) is True
        ours = local_counter()
        ours.n = 10
        # Our own object: the server calls it back (on the client's loop thread).
        assert service.mine(ours) is False
        assert service.total(ours, [counter.pb_stub]) == 12
        assert service.total(counter, []) == 2
        assert service.total(None, [ours, ours]) == 20


def test_references_in_containers_stay_async_stubs_until_wrapped(
    gen: ModuleType, typed_server: int
) -> None:
    with sync.connect("127.0.0.1", typed_server, registry=gen.REGISTRY) as client:
        service = client.root(gen.ServiceSyncClient)
        first, second, third = service.counters(3)
        assert type(first) is gen.CounterClient
        assert client.wrap(first, gen.CounterSyncClient).add(1) == 1
        assert service.pb_wrap(second, gen.CounterSyncClient).add(2) == 2
        assert client.wrap(third.pb_reference, gen.CounterSyncClient).add(3) == 3
        assert service.pb_wrap(None, gen.CounterSyncClient) is None
        with pytest.raises(TypeError, match="NamedSyncClient runs a NamedClient, not a Counter"):
            client.wrap(first, gen.NamedSyncClient)


def test_a_released_blocking_stub_is_dead(gen: ModuleType, typed_server: int) -> None:
    with sync.connect("127.0.0.1", typed_server, registry=gen.REGISTRY) as client:
        service = client.root(gen.ServiceSyncClient)
        with service.counter() as counter:
            assert counter.add(1) == 1
        with pytest.raises(pb.DeadReferenceError):
            counter.add(1)
        other = service.counter()
        other.pb_release()
        other.pb_release()  # idempotent
        with pytest.raises(pb.DeadReferenceError):
            other.add(1)


def test_blocking_stubs_from_a_worker_thread_of_an_app_that_runs_a_loop(
    gen: ModuleType, typed_server: int
) -> None:
    def blocking_work(midway: Callable[[], None]) -> tuple[str, int]:
        with sync.connect("127.0.0.1", typed_server, registry=gen.REGISTRY) as client:
            service = client.root(gen.ServiceSyncClient)
            with pytest.raises(pb.CallTimeout):
                service.slow(5.0, pb_timeout=0.01)
            midway()
            return service.join(threading.current_thread().name), service.counter().add(3)

    joined, added = beside_a_loop(blocking_work)
    assert joined.endswith("-")
    assert joined != threading.current_thread().name + "-"
    assert added == 3


def test_logins_give_the_avatar_as_a_blocking_stub(gen: ModuleType) -> None:
    counter, _, _ = servers(gen)

    class Realm:
        def request_avatar(self, user_id: str | None, mind: object) -> LoginResult:
            avatar = counter()
            avatar.n = 100 if user_id == "alice" else 0
            return avatar, lambda: None

    store = InMemoryScramStore()
    store.add_user("alice", "wonderland", iterations=4096)  # RFC 7677's floor: a fast test
    portal = Portal(Realm(), [ScramChecker(store, fake_iterations=4096), AllowAnonymous()])
    with (
        serving(portal.root(), gen.REGISTRY) as port,
        sync.connect("127.0.0.1", port, registry=gen.REGISTRY) as client,
    ):
        alice = client.login("alice", "wonderland", stub=gen.CounterSyncClient)
        assert type(alice) is gen.CounterSyncClient
        assert alice.add(5) == 105
        guest = client.login_anonymous(stub=gen.CounterSyncClient)
        assert type(guest) is gen.CounterSyncClient
        assert guest.add(5) == 5


def test_root_and_login_ask_the_async_api_for_the_async_stub(
    gen: ModuleType, typed_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the async API checks or learns from the stub class it is given, it does for the
    # blocking stub's async one too.
    asked: list[object] = []
    root = Client.root

    async def spied_root(self: Client, stub: Any = None) -> Any:
        asked.append(stub)
        return await root(self, stub)

    monkeypatch.setattr(Client, "root", spied_root)
    with sync.connect("127.0.0.1", typed_server, registry=gen.REGISTRY) as client:
        client.root(gen.ServiceSyncClient)
        client.root()
    assert asked == [gen.ServiceClient, None]


def test_a_closed_client_fails_as_a_closed_connection(gen: ModuleType, typed_server: int) -> None:
    """Calls through a closed blocking client raise DeadReferenceError, as the async API's
    do on a closed connection; releasing its references is harmless."""
    client = sync.connect("127.0.0.1", typed_server, registry=gen.REGISTRY)
    service = client.root(gen.ServiceSyncClient)
    counter = service.counter()
    plain = client.root()
    client.close()
    closed = "the connection of this reference is closed"
    with pytest.raises(pb.DeadReferenceError, match=closed):
        service.join("a", "b")
    with pytest.raises(pb.DeadReferenceError, match=closed):
        counter.add(1)
    with pytest.raises(pb.DeadReferenceError, match=closed):
        plain.call_remote("join", "a", "b")
    with pytest.raises(pb.DeadReferenceError, match=closed):
        client.root()
    counter.pb_release()
    plain.release()


class Listener(pb.Root):
    def __init__(self) -> None:
        self.heard: list[str] = []
        self.arrived = threading.Event()

    def remote_hear(self, word: str) -> None:
        self.heard.append(word)
        if len(self.heard) == 2:
            self.arrived.set()


def test_send_is_a_one_way_call_that_returns_at_once_and_keeps_the_order() -> None:
    listener = Listener()
    with serving(listener, REGISTRY) as port, sync.connect("127.0.0.1", port) as client:
        root = client.root()
        assert root.send("hear", "one") is None
        root.send("hear", word="two")
        assert listener.arrived.wait(5)
        assert listener.heard == ["one", "two"]
        root.release()
    with pytest.raises(pb.DeadReferenceError):
        root.send("hear", "three")  # the client is closed: nothing is sent
