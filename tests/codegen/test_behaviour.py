"""Generated stubs and skeletons over real sockets on 127.0.0.1 (the PB scenarios and checks)."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime
import decimal
import re
import types
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import pbtyped as pb
from examples.typed import exc, pb1, pb2, pb3, pbsimple, trap

ADDR = re.compile(r"0x[0-9a-f]+")


def lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return ADDR.sub("0x…", capsys.readouterr().out).splitlines()


def run(coro: Awaitable[Any]) -> Any:
    async def bounded() -> Any:
        async with asyncio.timeout(30):  # a hang fails the test instead of the suite
            return await coro

    return asyncio.run(bounded())


def test_pbsimple(capsys: pytest.CaptureFixture[str]) -> None:
    run(pbsimple.main())
    assert lines(capsys) == ["echoing: hello network", "server echoed: hello network"]


def test_pb1_reference_returned(capsys: pytest.CaptureFixture[str]) -> None:
    run(pb1.main())
    assert lines(capsys) == [
        "got first object: <OneClient for <pbtyped.RemoteReference #0 at 0x…>>",
        "asking it to getTwo",
        "returning a Two called <examples.typed.pb1.Two object at 0x…>",
        "got second object: <TwoClient for <pbtyped.RemoteReference #1 at 0x…>>",
        "telling it to do three(12)",
        "Two.three was given 12",
    ]


def test_pb2_reference_comes_home_as_the_original(capsys: pytest.CaptureFixture[str]) -> None:
    async def scenario() -> bool:
        async with pb.serve(pb2.One(), registry=pb2.REGISTRY) as server:
            return await pb2.client(server.port)

    assert run(scenario()) is True
    out = lines(capsys)
    assert out[-1] == "One.checkTwo(): our twos are the same"
    assert out[-3].endswith("comparing my two <examples.typed.pb2.Two object at 0x…>")


def test_pb3_server_calls_back_into_the_client(capsys: pytest.CaptureFixture[str]) -> None:
    run(pb3.main())
    assert lines(capsys) == [
        "got One: <OneClient for <pbtyped.RemoteReference #0 at 0x…>>",
        "giving it our two",
        "received a Two called <TwoClient for <pbtyped.RemoteReference #1 at 0x…>>",
        "telling it to print(12)",
        "Two.print() called with 12",
    ]


def test_exc_expected_and_unexpected(capsys: pytest.CaptureFixture[str]) -> None:
    run(exc.main())
    assert lines(capsys) == [
        "raising a MyError exception with data 'fall down go boom'",
        "got remote Exception",
        " .__class__ = MyError",
        " .message = fall down go boom",
        "raising a MyError2 exception with data 'hadda owie'",
        "got remote Exception",
        " .__class__ = RemoteError",
        " .message = hadda owie",
        " .remote_type = examples.typed.exc.MyError2",
    ]


def test_trap_tells_errors_apart(capsys: pytest.CaptureFixture[str]) -> None:
    run(trap.main())
    assert lines(capsys) == [
        "callOne: call with safe object",
        " method successful, response: response",
        "callTwo: call with dangerous object",
        " InsecureTypeError: you tried to send something unsafe to them",
        "callThree: call that raises remote exception",
        " remote raised a MyException",
        "telling them to shut down",
        "callFour: call on stale reference",
        " stale reference: the client disconnected or crashed",
    ]


# -- checks on the every-type schema (generated into a temporary package) -------------------


def kitchen_run(
    agen: Path,
    body: Callable[[Any, Any, list[str]], Awaitable[None]],
    *,
    registries: bool = True,
    limits: pb.Limits | None = None,
) -> None:
    """Run ``body`` against a Kitchen served on 127.0.0.1 (with ``limits``); with
    ``registries`` False neither end is given the module's REGISTRY (the skeleton and the
    stub bring it)."""
    from agen import alltypes, extra

    calls: list[str] = []
    stopped = asyncio.Event()  # set when a slow call is cancelled

    class Sink(alltypes.SinkServer):
        def remote_feed(self, data: bytes) -> int:
            return len(data)

    class Tagger(extra.TaggerServer):
        def remote_tag(self, name: str) -> extra.Tag:
            return extra.Tag(name)

    class Kitchen(alltypes.KitchenServer):
        def __init__(self) -> None:
            self.sink = Sink()

        def remote_scalars(self, a: None, b: bool, c: int, d: float, e: str, f: bytes) -> None:
            calls.append(f"scalars {a} {b} {c} {d!r} {e} {f!r}")

        def remote_stamps(self, when: Any, day: Any, ident: Any, amount: Any) -> Any:
            calls.append(f"stamps {day} {ident} {amount}")
            return when

        def remote_containers(self, xs: Any, m: Any, t: Any, vt: Any, s: Any, empty: Any) -> Any:
            calls.append(f"containers {xs} {m} {t} {vt} {sorted(s)} {empty}")
            return {b"n": len(xs)}

        def remote_unions(self, a: Any, b: Any, c: Any, d: Any) -> Any:
            calls.append(f"unions {a} {b} {c} {d}")
            return b

        def remote_literals(self, mode: Any, n: Any = 1) -> Any:
            calls.append(f"literals {mode} {n}")
            return "ok" if mode == "fast" else "not ok"  # "slow" breaks the declared result

        def remote_limited(self, name: str, blob: bytes, items: list[int]) -> Any:
            calls.append(f"limited {name}")
            return alltypes.Level.HIGH

        def remote_copies(self, shape: Any, *, scale: float = 1.0, color: Any = None) -> Any:
            calls.append(f"copies {shape.name} {scale!r} {color}")
            return shape

        def remote_baskets(self, basket: Any) -> Any:
            calls.append(f"baskets {basket.owner} {len(basket.spots)} {basket.badge}")
            basket.spots.append(alltypes.Spot(len(basket.spots)))
            return basket

        def remote_polygon(self, corners: Any, *, shapes: Any) -> Any:
            kinds = sorted({type(v).__name__ for v in [corners, shapes, *corners, *shapes]})
            calls.append(f"polygon {len(corners)} {len(shapes)} {' '.join(kinds)}")
            if corners and corners[0].x < 0:
                return [*corners, "not a point"]  # breaks the declared result
            return [*corners, *(p for shape in shapes for p in shape.points)]

        async def remote_sinks(self, sink: Any, others: list[Any]) -> Any:
            fed = await sink.feed(b"abc")
            calls.append(f"sinks fed {fed} others {len(others)}")
            return self.sink

        def remote_held(self, by_name: Any, nested: Any, pair: Any, more: Any) -> int:
            sinks = [*by_name.values(), *(s for row in nested or [] for s in row), *pair[0], *more]
            assert type(by_name) is dict  # as declared, whatever the client held
            assert type(pair[0]) is list
            assert all(type(row) is list for row in nested or [])
            assert all(isinstance(s, alltypes.SinkClient) for s in sinks)
            calls.append(f"held {len(sinks)}")
            return len(sinks)

        def remote_many(self, n: int) -> Any:
            return [Sink() for _ in range(n)]

        async def remote_tagged(self, tagger: Any, tag: Any) -> Any:
            return await tagger.tag(tag.name + "!")

        def remote_gauges(
            self, gauge: Any, maybe: Any, listed: Any, by_name: Any, *, named: Any = None
        ) -> Any:
            return maybe

        async def remote_flagged(self, on: bool = True, *, reason: str = "none") -> bytes:
            if reason == "slow":
                try:
                    await asyncio.sleep(30)
                except asyncio.CancelledError:
                    calls.append("flagged cancelled")
                    stopped.set()
                    raise
            calls.append(f"flagged {on} {reason}")
            return b"done"

    registry = alltypes.REGISTRY if registries else None

    async def scenario() -> None:
        async with (
            pb.serve(Kitchen(), registry=registry, limits=limits) as server,
            pb.connect("127.0.0.1", server.port, registry=registry) as conn,
        ):
            kitchen = await conn.root(alltypes.KitchenClient)
            await body(kitchen, (alltypes, extra, Sink, Tagger, Kitchen, stopped), calls)

    run(scenario())


@pytest.mark.parametrize("registries", [True, False], ids=["registry-given", "registry-brought"])
def test_every_type_round_trips(agen: Path, registries: bool) -> None:
    async def body(k: Any, mods: Any, calls: list[str]) -> None:
        alltypes, extra, Sink, Tagger, _, _ = mods
        assert await k.scalars(None, True, 3, 2, "s", b"b") is None
        when = datetime.datetime(2024, 1, 2, 3, 4, tzinfo=datetime.UTC)
        day, ident, amount = datetime.date(2024, 1, 2), uuid.UUID(int=7), decimal.Decimal("1.5")
        assert await k.stamps(when, day, ident, amount) == when
        P = alltypes.Point
        got = await k.containers([1, 2], {"a": [P(1, 2)]}, (1, "x"), (1.5,), {"q"}, ())
        assert got == {b"n": 2}
        assert await k.unions(None, "x", alltypes.Color.RED, P(0, 0)) == "x"
        assert await k.literals("fast", -3) == "ok"
        assert await k.limited("12345678", b"", [1, 2, 3]) is alltypes.Level.HIGH
        shape = alltypes.Shape("s", [P(1, 2)], tags=[extra.Tag("t")])
        assert await k.copies(shape, scale=2) == shape
        B, Spot = alltypes.Basket, alltypes.Spot
        assert await k.baskets(B()) == B(spots=[Spot()])
        full = B("me", [Spot(1, 2)], {"a": 1}, {"x"}, Spot(3), None, {"k": [Spot()]})
        assert await k.baskets(full) == dataclasses.replace(full, spots=[Spot(1, 2), Spot(1)])
        assert full.spots == [Spot(1, 2)]  # the server changed its own copy
        assert B().spots is not B().spots  # each instance makes its own default
        local_sink = Sink()
        back = await k.sinks(local_sink, [local_sink])
        assert isinstance(back, alltypes.SinkClient)
        assert await back.feed(b"12345") == 5
        assert await k.tagged(Tagger(), extra.Tag("x")) == extra.Tag("x!")
        assert await k.flagged(reason="why") == b"done"
        assert calls == [
            "scalars None True 3 2.0 s b'b'",
            "stamps 2024-01-02 00000000-0000-0000-0000-000000000007 1.5",
            "containers [1, 2] {'a': [Point(x=1, y=2)]} (1, 'x') (1.5,) ['q'] ()",
            "unions None x Color.RED Point(x=0, y=0)",
            "literals fast -3",
            "limited 12345678",
            "copies s 2.0 Color.GREEN",
            "baskets nobody 0 Badge(text='new')",
            "baskets me 1 None",
            "sinks fed 3 others 1",
            "flagged True why",
        ]

    kitchen_run(agen, body, registries=registries)


BAD_CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any], str]] = [
    ("scalars", (None, True, "3", 2.0, "s", b""), {},
     "scalars(): $.c: expected int, got text string"),
    ("scalars", (None, 1, 3, 2.0, "s", b""), {}, "scalars(): $.b: expected bool, got integer"),
    ("scalars", (None, True, 3, 2.0, "s"), {}, "scalars(): $.f: missing argument"),
    ("scalars", (None, True, 3, 2.0, "s", b"", 7), {},
     "scalars() takes 6 positional arguments, got 7"),
    ("limited", ("123456789", b"", []), {}, "limited(): $.name: longer than 8 (length 9)"),
    ("limited", ("n", b"", [1, 2, 3, 4]), {}, "limited(): $.items: longer than 3 (length 4)"),
    ("literals", ("medium",), {}, 'literals(): $.mode: expected "fast" | "slow", got "medium"'),
    ("literals", ("fast", True), {}, "literals(): $.n: expected 1 | 2 | -3, got true"),
    ("containers", ([1, "2"], {}, (1, "x"), (), set(), ()), {},
     "containers(): $.xs[1]: expected int, got text string"),
    ("containers", ([], {"k": [{"x": 1}]}, (1, "x"), (), set(), ()), {},
     "containers(): $.m['k'][0]: expected Point, got map"),
    ("containers", ([], {}, (1,), (), set(), ()), {}, "containers(): $.t: expected 2 items, got 1"),
    ("unions", (1.5, 1, None, None), {}, "unions(): $.a: expected int | null, got float"),
    ("stamps", (datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC), datetime.date(2024, 1, 1),
                "u", decimal.Decimal(1)), {}, "stamps(): $.ident: expected UUID, got text string"),
    ("copies", (), {"shape": None, "scale": 1.0}, "copies(): $.shape: expected Shape, got null"),
    ("copies", (None,), {"colour": 1}, "copies() got an unexpected argument 'colour'"),
    ("literals", ("slow",), {}, 'result of literals(): $: expected "ok", got "not ok"'),
]  # fmt: skip


@pytest.mark.parametrize(("method", "args", "kwargs", "message"), BAD_CALLS)
def test_bad_arguments_never_reach_the_method(
    agen: Path, method: str, args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    async def body(k: Any, mods: Any, calls: list[str]) -> None:
        with pytest.raises(pb.ValidationError) as info:
            await k.pb_reference.call(method, args, kwargs)
        assert str(info.value) == message
        if not message.startswith("result"):
            assert calls == []  # the method never ran
        await k.flagged()  # the connection is still fine

    kitchen_run(agen, body)


def test_nested_path_and_unknown_method(agen: Path) -> None:
    async def body(k: Any, mods: Any, calls: list[str]) -> None:
        alltypes = mods[0]
        bad = alltypes.Shape("s", [alltypes.Point(1, "2")])
        long = alltypes.Shape("x" * 21, [])
        # The stub refuses them before sending; the server, sent them anyway, says the same.
        for shape, message in [
            (bad, "copies(): $.shape.points[0].y: expected int, got text string"),
            (long, "copies(): $.shape.name: longer than 20 (length 21)"),
        ]:
            with pytest.raises(pb.ValidationError) as stub_info:
                await k.copies(shape)
            with pytest.raises(pb.ValidationError) as server_info:
                await k.pb_reference.call("copies", [shape])
            assert str(stub_info.value) == str(server_info.value) == message
        with pytest.raises(pb.NoSuchMethod):
            await k.pb_reference.call_remote("cook")
        with pytest.raises(pb.NoSuchMethod):
            await k.pb_reference.call_remote("pb_dispatch")
        assert calls == []

    kitchen_run(agen, body)


def test_pb_timeout_stops_a_slow_call(agen: Path) -> None:
    async def body(k: Any, mods: Any, calls: list[str]) -> None:
        alltypes, Kitchen, stopped = mods[0], mods[4], mods[5]
        with pytest.raises(TimeoutError):
            await k.flagged(reason="slow", pb_timeout=0.05)
        async with asyncio.timeout(5):
            await stopped.wait()  # the server was told to stop the work
        assert await k.flagged(reason="quick", pb_timeout=5) == b"done"
        # A stub for one of our own objects (a reference come home) calls it in place.
        local = alltypes.KitchenClient(Kitchen())
        with pytest.raises(TimeoutError):
            await local.flagged(reason="slow", pb_timeout=0.05)
        assert calls == ["flagged cancelled", "flagged True quick", "flagged cancelled"]

    kitchen_run(agen, body)


def test_lists_of_copies_travel_in_columns_and_arrive_as_lists(
    agen: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pbtyped.wire.decoding import DecodeState

    decoded: list[str] = []  # the wire name of every COLUMNS value decoded, on either side
    columns = DecodeState.columns

    def counting(state: DecodeState, value: Any, immutable: bool) -> Any:
        decoded.append(value[0])
        return columns(state, value, immutable)

    monkeypatch.setattr(DecodeState, "columns", counting)

    async def body(k: Any, mods: Any, calls: list[str]) -> None:
        alltypes, extra, Kitchen = mods[0], mods[1], mods[4]
        P, S = alltypes.Point, alltypes.Shape
        shapes = [S("a", [P(5, 6)], tags=[extra.Tag("t")]), S("b", [], color=alltypes.Color.GREEN)]
        corners = [P(i, -i) for i in range(100)]
        # Both Hellos listed "columns": the lists go field by field (tests/wire/test_columns.py
        # pins the bytes); the server still gets plain lists of checked records.
        assert k.pb_reference.pb_broker._codec.peer_takes_columns
        got = await k.polygon(corners, shapes=shapes)
        assert type(got) is list
        assert got == [*corners, P(5, 6)]
        # Both arguments reached the server in columns, and the result came back in columns.
        assert sorted(decoded) == ["alltypes.Point", "alltypes.Point", "alltypes.Shape"]
        assert await k.polygon([], shapes=[]) == []
        # A list that is not all one registered class is refused by the stub before sending;
        # sent anyway (item by item), the checks on the server name the bad item the same way.
        with pytest.raises(pb.ValidationError, match=r"^polygon\(\): \$\.corners\[1\]: "):
            await k.polygon([P(1, 1), None], shapes=[])
        with pytest.raises(pb.ValidationError, match=r"^polygon\(\): \$\.corners\[1\]: "):
            await k.pb_reference.call("polygon", [[P(1, 1), None]], {"shapes": []})
        with pytest.raises(pb.ValidationError, match=r"^polygon\(\): \$\.shapes\[0\]: "):
            await k.polygon([], shapes=[P(1, 1)])
        with pytest.raises(pb.ValidationError, match=r"^result of polygon\(\): \$\[1\]: "):
            await k.polygon([P(-1, 0)], shapes=[])
        # The same stub on a local object: the skeleton's wire marking never shows.
        local = await alltypes.KitchenClient(Kitchen()).polygon([P(1, 2)], shapes=shapes[:1])
        assert type(local) is list
        assert local == [P(1, 2), P(5, 6)]
        assert calls == [
            "polygon 100 2 Point Shape list",
            "polygon 0 0 list",
            "polygon 1 0 Point list",
            "polygon 1 1 Point Shape list",
        ]

    kitchen_run(agen, body)


def test_sequences_of_references_are_sent_as_lists(agen: Path) -> None:
    # Client stubs accept any Sequence/Mapping where lists/dicts hold references (typing them
    # covariantly); they are sent as lists and dicts, which the server's checks require.
    async def body(k: Any, mods: Any, calls: list[str]) -> None:
        Sink = mods[2]
        a, b = Sink(), Sink()
        proxy = types.MappingProxyType({"a": a})
        assert await k.held(proxy, ((a,), collections.deque([b])), ((a, b), 1), [b]) == 6
        assert await k.held({}, None, ([], 0), ()) == 0
        assert await k.sinks(a, (a, b)) is not None
        # Something else than a Sequence is left as it is, for the checks to refuse.
        with pytest.raises(pb.ValidationError, match=r"^held\(\): \$\.nested: expected "):
            await k.held({}, 5, ([], 0), ())
        assert calls == ["held 6", "held 0", "sinks fed 3 others 2"]
        many = await k.many(2)
        assert [await s.feed(b"xy") for s in many] == [2, 2]

    kitchen_run(agen, body)
