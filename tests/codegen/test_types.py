"""Type tests: mypy --strict accepts correct uses of generated code and rejects misuses.

Every snippet goes through one mypy run. A rejected snippet marks the line that must fail
with ``# E``; any error on another line fails the test too, so each snippet is otherwise sound.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from pbtyped.codegen import generate

from .conftest import HERE, ROOT, write_package

PRELUDE = """\
import asyncio
from typing import Literal, assert_type

import pbtyped as pb
from pbtyped.typed import support as _pb
from agen.alltypes import Basket, Color, KitchenClient, KitchenServer, Level, Point, Shape, Spot
from agen.alltypes import SinkClient, SinkServer
from agen.alltypes import BoardClient, BoardServer, BoardSyncClient
from agen.alltypes import CounterClient, CounterServer, GaugeClient, GaugeServer
from agen.alltypes import CounterPromise, GaugePromise, LinkClient, LinkPromise
from agen.alltypes import CounterSyncClient, GaugeSyncClient, KitchenSyncClient, SinkSyncClient
from agen.extra import Badge, Tag, TaggerClient, TaggerSyncClient
from pbtyped import sync
from gen.pb1 import OneClient, TwoClient, TwoPromise, TwoServer
from gen.feed import FeedClient, FeedServer, FeedSyncClient, Tick
from collections.abc import AsyncIterator, Iterator
from gen.pb3 import OneServer as One3Server, TwoClient as Two3Client


class Sink(SinkServer):
    def remote_feed(self, data: bytes) -> int:
        return len(data)


"""

ACCEPTED = """\
async def client(conn: pb.Client) -> None:
    one = await conn.root(OneClient)
    assert_type(one, OneClient)
    two = await one.get_two()
    assert_type(two, TwoClient)
    await two.three(12)
    k = await conn.root(KitchenClient)
    assert_type(await k.copies(Shape("s", [Point(1, 2)]), scale=2.0), Shape)
    assert_type(await k.copies(Shape("s", []), color=Color.RED), Shape)
    assert_type(await k.literals("fast", 2), Literal["ok"])
    assert_type(await k.baskets(Basket()), Basket)
    assert_type(await k.limited("a", b"", [1]), Level)
    assert_type(await k.containers([1], {"a": []}, (1, "x"), (), {"s"}, ()), dict[bytes, int])
    assert_type(await k.unions(None, "x", None, None), int | str | None)
    servers: list[SinkServer] = [Sink()]
    clients: tuple[SinkClient, ...] = ()
    by_name: dict[str, Sink] = {"a": Sink()}
    assert_type(await k.held(by_name, [servers, clients], (servers, 1), tuple(servers)), int)
    sink = await k.sinks(Sink(), servers)
    assert_type(await k.many(2), list[SinkClient])
    assert_type(sink, SinkClient | None)
    if sink is not None:
        assert_type(await k.sinks(sink, []), SinkClient | None)
        assert_type(await sink.feed(b"x"), int)
    assert_type(await k.flagged(reason="r"), bytes)
    assert_type(await k.flagged(reason="r", pb_timeout=0.5), bytes)
    assert_type(await two.three(12, pb_timeout=None), None)
    assert_type(await one.get_two(pb_timeout=1), TwoClient)


async def derived(gauge: GaugeClient, counter: CounterClient) -> None:
    assert_type(await gauge.count(), int)
    assert_type(await gauge.tag("x"), Tag)
    as_counter: CounterClient = gauge
    as_tagger: TaggerClient = gauge
    assert_type(await gauge.compare(gauge, [as_counter, counter]), int)
    await gauge.compare(MyGauge(), [])
    await gauge.compare(MyCounter(), [])
    del as_tagger


async def pipelined(link: LinkClient, one: OneClient, k: KitchenClient) -> None:
    # Issue 13: a stub's call is a promise, awaited for the result or used before it comes.
    # (A promise left unused is an error here: the type tests enable unused-awaitable.)
    _ = assert_type(link.next(), LinkPromise)
    assert_type(await link.next(), LinkClient)
    _ = assert_type(link.next().next().value(1), pb.Promise[int])
    assert_type(await link.next().next().value(1), int)
    assert_type(await one.get_two().three(12), None)
    _ = assert_type(one.get_two(), TwoPromise)
    assert_type(await one.get_two(), TwoClient)
    # A promise where a value is declared: of that type, or of a subtype.
    assert_type(await link.moved(link.where(), link.next().value(2)), Point)
    assert_type(await link.moved(Point(1, 2), by=3), Point)
    assert_type(await link.joined(link.next(), counter=None), LinkClient | None)
    _ = assert_type(link.joined(link), pb.Promise[LinkClient | None])
    assert_type(await k.sinks(k.many(1).at(0), k.many(2)), SinkClient | None)
    # Still coroutines: tasks and gather take them.
    assert_type(await asyncio.create_task(link.value(1)), int)
    assert_type(await asyncio.gather(link.value(1), link.where()), tuple[int, Point])
    # A method named as a promise's own is the stub's alone: the promise keeps its own.
    assert_type(await (await link.next()).close(), None)
    link.next().close()
    as_promise: pb.Promise[LinkClient] = link.next()
    del as_promise


async def derived_promises(gauge: GaugePromise, link: LinkClient) -> None:
    assert_type(await gauge, GaugeClient)
    assert_type(await gauge.count(), int)
    assert_type(await gauge.tag("x"), Tag)
    as_gauge: pb.Promise[GaugeClient] = gauge
    as_counter: pb.Promise[CounterClient] = gauge
    assert_type(await link.joined(link, counter=gauge), LinkClient | None)
    assert_type(await gauge.compare(gauge, [MyCounter()]), int)
    del as_gauge, as_counter


def blocking(client: sync.SyncClient, sink_stub: SinkClient) -> None:
    k = client.root(KitchenSyncClient)
    assert_type(k, KitchenSyncClient)
    assert_type(k.pb_stub, KitchenClient)
    assert_type(k.copies(Shape("s", [Point(1, 2)]), scale=2.0), Shape)
    assert_type(k.literals("fast", 2, pb_timeout=0.5), Literal["ok"])
    assert_type(k.flagged(reason="r"), bytes)
    assert_type(k.scalars(None, True, 1, 2.0, "e", b"f"), None)
    servers: list[SinkServer] = [Sink()]
    sink = k.sinks(Sink(), servers)
    assert_type(sink, SinkSyncClient | None)
    if sink is not None:
        # A blocking stub where an interface is the parameter; in a list, its async stub.
        assert_type(k.sinks(sink, [sink.pb_stub, Sink()]), SinkSyncClient | None)
        assert_type(sink.feed(b"x", pb_timeout=1), int)
    assert_type(k.sinks(sink_stub, ()), SinkSyncClient | None)
    many = k.many(2)
    assert_type(many, list[SinkClient])
    assert_type(client.wrap(many[0], SinkSyncClient), SinkSyncClient)
    assert_type(k.pb_wrap(many[0], SinkSyncClient), SinkSyncClient)
    assert_type(client.wrap(sink_stub.pb_reference, SinkSyncClient), SinkSyncClient)
    assert_type(client.login("u", "p", stub=KitchenSyncClient), KitchenSyncClient)
    assert_type(client.login_anonymous(stub=KitchenSyncClient), KitchenSyncClient)
    with k:
        pass


def blocking_derived(k: KitchenSyncClient, gauge: GaugeSyncClient, c: CounterSyncClient) -> None:
    assert_type(gauge.count(), int)
    assert_type(gauge.tag("x"), Tag)
    assert_type(gauge.pb_stub, GaugeClient)
    as_counter: CounterSyncClient = gauge
    as_tagger: TaggerSyncClient = gauge
    assert_type(gauge.compare(as_counter, [c.pb_stub, MyGauge()]), int)
    assert_type(gauge.compare(MyCounter(), []), int)
    assert_type(k.tagged(as_tagger, Tag("t")), Tag)
    # A derived interface's blocking stub unwraps to its own async stub, not its first base's.
    assert_type(k.pb_unwrap(gauge), GaugeClient)
    assert_type(k.gauges(gauge, gauge, [gauge.pb_stub], {"g": MyGauge()}), GaugeSyncClient | None)
    assert_type(k.gauges(gauge.pb_stub, None, [], {}, named=gauge), GaugeSyncClient | None)
    assert_type(k.gauges(MyGauge(), MyGauge(), (), {}, named=None), GaugeSyncClient | None)


async def one_way(board: BoardClient, sink: SinkClient, blocking: BoardSyncClient) -> None:
    # A one-way method is a plain call: sent at once, nothing to await (see REJECTED).
    board.post("hi")
    board.post("hi", pin=sink)
    board.post("hi", pin=Sink())
    board.clear()
    assert_type(await board.notes(), list[str])
    blocking.post("hi", pin=None)
    blocking.clear()


class Board(BoardServer):
    def remote_post(self, text: str, *, pin: SinkClient | None = None) -> None:
        pass

    async def remote_clear(self) -> None:  # the skeleton's one-way method may be async
        pass

    def remote_notes(self) -> list[str]:
        return []


async def streams(feed: FeedClient, blocking: FeedSyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"x"

    async for tick in feed.ticks("ACME", 3):
        assert_type(tick, Tick)
    assert_type(feed.ticks("ACME", 3, pb_timeout=1), AsyncIterator[Tick])
    assert_type(await feed.upload(chunks()), int)
    assert_type(feed.chat(feed.chat(chunks_text())), AsyncIterator[str])
    for tick in blocking.ticks("ACME", 3):
        assert_type(tick, Tick)
    assert_type(blocking.ticks("ACME", 3), Iterator[Tick])


async def chunks_text() -> AsyncIterator[str]:
    yield "hi"


class MyFeed(FeedServer):
    async def remote_ticks(self, symbol: str, count: int) -> AsyncIterator[Tick]:
        yield Tick(symbol, count)

    async def remote_upload(self, chunks: AsyncIterator[bytes]) -> int:
        return sum([len(c) async for c in chunks])

    async def remote_chat(self, outgoing: AsyncIterator[str]) -> AsyncIterator[str]:
        return outgoing


def field_defaults() -> None:
    basket = Basket()
    assert_type(basket.owner, str)
    assert_type(basket.spots, list[Spot])
    assert_type(basket.counts, dict[str, int])
    assert_type(basket.labels, set[str])
    assert_type(basket.spot, Spot)
    assert_type(basket.badge, Badge | None)
    assert_type(basket.a_field_name_long_enough_to_split, dict[str, list[Spot]])
    assert_type(Basket("me", [Spot(1)], badge=None), Basket)


def declarations() -> None:
    # What generated modules declare their interfaces with: typed values, not tuples.
    text = _pb.param("text", Literal["a", "b"] | None, kw_only=True, default=None)
    assert_type(text, _pb.ParamDecl)
    assert_type(_pb.method(text, returns=list[Point]), _pb.MethodDecl)
    base = _pb.interface("t.Base", m=_pb.method(returns=None))
    derived = _pb.interface("t.Derived", base, n=_pb.method(text, returns=int))
    assert_type(derived, _pb.InterfaceSpec)


class ManySinks(KitchenServer):
    def remote_many(self, n: int) -> list[SinkServer | SinkClient]:
        return [Sink() for _ in range(n)]


class MyCounter(CounterServer):
    def remote_count(self) -> int:
        return 1


class MyGauge(GaugeServer):
    def remote_count(self) -> int:
        return 2

    def remote_tag(self, name: str) -> Tag:
        return Tag(name)

    async def remote_compare(self, other: CounterClient, others: list[CounterClient]) -> int:
        return await other.count() - len(others)


class Two(TwoServer):
    def remote_three(self, arg: int) -> None:
        pass


class AsyncTwo(TwoServer):
    async def remote_three(self, arg: int) -> None:
        pass


class One3(One3Server):
    async def remote_take_two(self, two: Two3Client) -> None:
        await two.print(12)
"""

REJECTED = {
    "promise_lacks_method": (
        "async def f(link: LinkClient) -> None:\n    await link.next().count()  # E\n"
    ),
    "promise_keeps_its_own_close": (
        "async def f(link: LinkClient) -> None:\n    await link.next().close()  # E\n"
    ),
    "promise_of_a_value_has_no_methods": (
        "async def f(link: LinkClient) -> None:\n    await link.value(1).next()  # E\n"
    ),
    "promise_of_an_optional_reference_has_no_methods": (
        "async def f(link: LinkClient) -> None:\n    await link.joined(link).next()  # E\n"
    ),
    "promise_of_the_wrong_type_as_argument": (
        "async def f(link: LinkClient) -> None:\n    await link.value(link.where())  # E\n"
    ),
    "promise_of_another_interface_as_argument": (
        "async def f(k: KitchenClient, link: LinkClient) -> None:\n"
        "    await k.sinks(link.next(), [])  # E\n"
    ),
    "promise_of_a_base_where_another_base_expected": (
        "async def f(k: KitchenClient, g: GaugePromise, c: CounterPromise) -> None:\n"
        "    await k.tagged(g, Tag('t'))\n"
        "    await k.tagged(c, Tag('t'))  # E\n"
    ),
    "promise_result_misused": (
        "async def f(link: LinkClient) -> None:\n    n: str = await link.value(1)  # E\n"
    ),
    "promise_not_awaited_used_as_result": (
        "async def f(link: LinkClient) -> None:\n    n: int = link.value(1)  # E\n"
    ),
    "promise_to_a_blocking_stub": (
        "def f(g: GaugeSyncClient, p: GaugePromise) -> None:\n"
        "    g.compare(g, [])\n"
        "    g.compare(p, [])  # E\n"
    ),
    "wrong_argument_type": "async def f(two: TwoClient) -> None:\n    await two.three('12')  # E\n",
    "missing_argument": "async def f(two: TwoClient) -> None:\n    await two.three()  # E\n",
    "keyword_only_by_position": (
        "async def f(k: KitchenClient) -> None:\n    await k.copies(Shape('s', []), 2.0)  # E\n"
    ),
    "literal_outside_values": (
        "async def f(k: KitchenClient) -> None:\n    await k.literals('medium')  # E\n"
    ),
    "unknown_method": "async def f(one: OneClient) -> None:\n    await one.get_three()  # E\n",
    "result_without_await": (
        "async def f(one: OneClient) -> None:\n    two: TwoClient = one.get_two()  # E\n"
    ),
    "oneway_awaited": "async def f(b: BoardClient) -> None:\n    await b.post('hi')  # E\n",
    "oneway_result_used": "def f(b: BoardClient) -> None:\n    x = b.post('hi')  # E\n",
    "oneway_wrong_argument": "def f(b: BoardClient) -> None:\n    b.post(1)  # E\n",
    "oneway_has_no_timeout": "def f(b: BoardClient) -> None:\n    b.clear(pb_timeout=1)  # E\n",
    "oneway_blocking_awaited": (
        "async def f(b: BoardSyncClient) -> None:\n    await b.post('hi')  # E\n"
    ),
    "oneway_blocking_body_checked": (
        "async def f(b: BoardClient) -> None:\n"
        "    await _pb.sent(b.post, 'hi', pin=None)\n"
        "    await _pb.sent(b.post, 1)  # E\n"
    ),
    "oneway_skeleton_returns_a_value": (
        "class Bad(BoardServer):\n"
        "    def remote_post(self, text: str, *, pin: SinkClient | None = None) -> int:  # E\n"
        "        return 1\n"
    ),
    "call_never_awaited": "async def f(one: OneClient) -> None:\n    one.get_two()  # E\n",
    "timeout_not_a_number": (
        "async def f(two: TwoClient) -> None:\n    await two.three(12, pb_timeout='x')  # E\n"
    ),
    "timeout_by_position": (
        "async def f(two: TwoClient) -> None:\n    await two.three(12, 0.5)  # E\n"
    ),
    "derived_skeleton_missing_base_method": (
        "class Half(GaugeServer):\n"
        "    def remote_compare(self, other: CounterClient, others: list[CounterClient]) -> int:\n"
        "        return 0\n\n\n"
        "half = Half()  # E\n"
    ),
    "derived_skeleton_wrong_base_signature": (
        "class Bad(GaugeServer):\n    def remote_count(self) -> str:  # E\n        return ''\n"
    ),
    "base_stub_lacks_derived_method": (
        "async def f(counter: CounterClient) -> None:\n"
        "    await counter.compare(counter, [])  # E\n"
    ),
    "base_skeleton_where_derived_expected": (
        "def f(g: GaugeClient | GaugeServer) -> None: ...\n\n\n"
        "f(MyCounter())  # E\n\n\n"
        "class MyCounter(CounterServer):\n"
        "    def remote_count(self) -> int:\n"
        "        return 1\n"
    ),
    "list_of_other_references": (
        "async def f(k: KitchenClient, ones: list[OneClient]) -> None:\n"
        "    await k.sinks(Sink(), ones)  # E\n"
    ),
    "mapping_of_other_references": (
        "async def f(k: KitchenClient, ones: dict[str, OneClient]) -> None:\n"
        "    await k.held(ones, None, ([], 1), ())  # E\n"
    ),
    "field_default_of_another_type": "Basket(spots={Spot()})  # E\n",
    "factory_made_field_of_another_type": (
        "def f(basket: Basket) -> None:\n    basket.badge = Spot()  # E\n"
    ),
    "misused_result": (
        "async def f(k: KitchenClient) -> None:\n    n: int = await k.flagged()  # E\n"
    ),
    "wrong_object_for_interface": (
        "async def f(k: KitchenClient, one: OneClient) -> None:\n    await k.sinks(one, [])  # E\n"
    ),
    "override_wrong_argument": (
        "class Bad(TwoServer):\n    def remote_three(self, arg: str) -> None:  # E\n        pass\n"
    ),
    "override_wrong_result": (
        "class Bad(TwoServer):\n"
        "    def remote_three(self, arg: int) -> int:  # E\n"
        "        return 1\n"
    ),
    "override_missing_parameter": (
        "class Bad(TwoServer):\n    def remote_three(self) -> None:  # E\n        pass\n"
    ),
    "param_where_a_method_is_declared": "_pb.interface('t.X', m=_pb.param('a', int))  # E\n",
    "method_without_its_result": "_pb.method(_pb.param('a', int))  # E\n",
    "param_as_a_positional_tuple": "_pb.method(('a', int, False, None), returns=int)  # E\n",
    "interface_based_on_a_method": (
        "_pb.interface('t.X', _pb.method(returns=int), m=_pb.method(returns=int))  # E\n"
    ),
    "method_spec_is_read_only": (
        "def f(spec: _pb.MethodSpec) -> None:\n    spec.column_names = frozenset()  # E\n"
    ),
    "blocking_wrong_argument_type": (
        "def f(k: KitchenSyncClient) -> None:\n    k.literals('medium')  # E\n"
    ),
    "blocking_result_awaited": (
        "async def f(k: KitchenSyncClient) -> None:\n    await k.flagged()  # E\n"
    ),
    "blocking_result_misused": (
        "def f(k: KitchenSyncClient) -> None:\n    n: int = k.flagged()  # E\n"
    ),
    "blocking_timeout_not_a_number": (
        "def f(k: KitchenSyncClient) -> None:\n    k.flagged(pb_timeout='x')  # E\n"
    ),
    "blocking_stub_in_a_list": (
        "def f(k: KitchenSyncClient, s: SinkSyncClient) -> None:\n    k.sinks(s, [s])  # E\n"
    ),
    "blocking_stub_of_another_interface": (
        "def f(k: KitchenSyncClient, c: CounterSyncClient) -> None:\n    k.sinks(c, [])  # E\n"
    ),
    "blocking_base_where_derived_expected": (
        "def f(k: KitchenSyncClient, g: GaugeSyncClient, c: CounterSyncClient) -> None:\n"
        "    k.gauges(g, g, [], {})\n"
        "    k.gauges(g, c, [], {})  # E\n"
        "    k.gauges(c, None, [], {})  # E\n"
        "    k.gauges(g, None, [], {}, named=c)  # E\n"
    ),
    "blocking_base_lacks_derived_method": (
        "def f(c: CounterSyncClient, g: GaugeSyncClient) -> None:\n    c.compare(g, [])  # E\n"
    ),
    "blocking_wrap_into_another_interface": (
        "def f(c: sync.SyncClient, s: SinkClient) -> None:\n    c.wrap(s, CounterSyncClient)  # E\n"
    ),
    "blocking_wrap_a_base_into_a_derived_interface": (
        "def f(c: sync.SyncClient, k: KitchenSyncClient, g: GaugeClient, b: CounterClient,\n"
        "      runner: sync.EventLoopThread) -> None:\n"
        "    c.wrap(g, GaugeSyncClient)\n"
        "    c.wrap(b, GaugeSyncClient)  # E\n"
        "    k.pb_wrap(b, GaugeSyncClient)  # E\n"
        "    GaugeSyncClient(b, runner)  # E\n"
    ),
    "blocking_connect_options_are_checked": (
        "def f(loop: sync.EventLoopThread) -> None:\n"
        "    sync.connect('h', 1, registry=pb.Registry(), timeout=None, runner=loop).close()\n"
        "    sync.connect('h', 1, timout=5)  # E\n"
        "    sync.connect('h', 1, timeout='5')  # E\n"
        "    sync.connect('h', 1, registry=1)  # E\n"
    ),
    "blocking_root_given_the_async_stub": (
        "def f(c: sync.SyncClient) -> None:\n    c.root(KitchenClient)  # E\n"
    ),
    "blocking_result_in_a_list_is_async": (
        "def f(k: KitchenSyncClient) -> None:\n    n: int = k.many(1)[0].feed(b'')  # E\n"
    ),
    "stream_result_awaited": (
        "async def f(feed: FeedClient) -> None:\n    await feed.ticks('A', 1)  # E\n"
    ),
    "stream_items_misused": (
        "async def f(feed: FeedClient) -> None:\n"
        "    async for tick in feed.ticks('A', 1):\n"
        "        n: int = tick  # E\n"
    ),
    "stream_argument_not_a_stream": (
        "async def f(feed: FeedClient) -> None:\n    await feed.upload([b'x'])  # E\n"
    ),
    "stream_argument_of_the_wrong_items": (
        "async def f(feed: FeedClient) -> None:\n    await feed.upload(chunks_text())  # E\n"
        "\n\nasync def chunks_text() -> AsyncIterator[str]:\n    yield 'hi'\n"
    ),
    "stream_server_yields_the_wrong_items": (
        "class Bad(FeedServer):\n"
        "    async def remote_ticks(self, symbol: str, count: int) -> AsyncIterator[int]:  # E\n"
        "        yield 1\n"
    ),
    "blocking_stream_iterated_with_async_for": (
        "async def f(feed: FeedSyncClient) -> None:\n"
        "    async for tick in feed.ticks('A', 1):  # E\n"
        "        pass\n"
    ),
    "server_param_is_a_stub": (
        "class Bad(One3Server):\n"
        "    async def remote_take_two(self, two: Two3Client) -> None:\n"
        "        await two.print('12')  # E\n"
    ),
}

ERROR = re.compile(r"^(?P<file>[\w.]+):(?P<line>\d+): error: (?P<text>.*)$")


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[int, str]]]:
    # Without mypy, `python -m mypy` exits 1 like a run that found errors: skip, saying why,
    # rather than read an empty error list as "the correct uses pass".
    pytest.importorskip("mypy", reason="the type tests need mypy (pip install -e '.[dev]')")
    base = tmp_path_factory.mktemp("types")
    write_package(generate(ROOT / "schemas"), base / "gen")
    write_package(generate(HERE / "alltypes"), base / "agen")
    write_package(generate(HERE / "everywhere"), base / "egen")
    files = {"accepted.py": PRELUDE + ACCEPTED}
    files["everywhere_uses.py"] = (HERE / "everywhere_uses.py").read_text(encoding="utf-8")
    files.update({f"bad_{name}.py": PRELUDE + text for name, text in REJECTED.items()})
    for name, text in files.items():
        (base / name).write_text(text, encoding="utf-8")
    packages = ["gen", "agen", "egen"]
    done = subprocess.run(
        # mutable-override (not in --strict): a derived blocking stub narrows pb_stub safely.
        # unused-awaitable (not in --strict either): a stub's call never awaited is a promise
        # dropped, which the guide tells users to have mypy find.
        [sys.executable, "-m", "mypy", "--strict", "--enable-error-code", "mutable-override",
         "--enable-error-code", "unused-awaitable",
         "--no-error-summary", "--cache-dir",
         str(base / ".cache"), *packages, *sorted(files)],
        cwd=base, capture_output=True, text=True,
    )  # fmt: skip
    errors: dict[str, list[tuple[int, str]]] = {name: [] for name in [*files, *packages]}
    for line in done.stdout.splitlines():
        match = ERROR.match(line)
        if match is None:
            continue
        key = match["file"] if match["file"] in files else match["file"].partition("/")[0]
        errors.setdefault(key, []).append((int(match["line"]), match["text"]))
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return errors


def test_generated_code_and_correct_uses_pass(
    mypy_errors: dict[str, list[tuple[int, str]]],
) -> None:
    # An empty list means "no error" only if mypy really read the files: it then reports
    # the deliberate mistakes of the bad_*.py files beside them.
    assert any(mypy_errors[f"bad_{name}.py"] for name in REJECTED), "mypy did not run"
    assert mypy_errors["accepted.py"] == []
    assert mypy_errors["everywhere_uses.py"] == []
    assert mypy_errors["gen"] == []
    assert mypy_errors["agen"] == []
    assert mypy_errors["egen"] == []


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_misuse_is_rejected(mypy_errors: dict[str, list[tuple[int, str]]], name: str) -> None:
    source = (PRELUDE + REJECTED[name]).splitlines()
    marked = [i + 1 for i, line in enumerate(source) if line.endswith("# E")]
    found = mypy_errors[f"bad_{name}.py"]
    assert found, "mypy accepted it"
    assert {line for line, _ in found} == set(marked), found
