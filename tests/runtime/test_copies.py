"""Item 4: pass-by-copy of registered types and CBOR natives; everything else is refused."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import uuid
from typing import Any

import pytest

import pbtyped as pb


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int


@dataclasses.dataclass
class Shape:
    name: str
    points: list[Point]
    color: Color


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Scary:
    pass


class Mirror(pb.Root):
    def remote_echo(self, value: Any) -> Any:
        return value

    def remote_kind(self, value: Any) -> str:
        return type(value).__name__

    def remote_scary(self) -> Scary:
        return Scary()


def registry(*types: type[Any]) -> pb.Registry:
    reg = pb.Registry()
    for cls in types:
        reg.register_type(cls)
    return reg


VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**64,
    -(2**100),
    1.5,
    float("inf"),
    "",
    "héllo ✓",
    b"",
    b"\x00\xff" * 10,
    b"x" * 200_000,  # large bytes travel as an attachment
    [1, [2, [3]]],
    (1, "two", (3.0,)),
    {"a": 1, "b": [1, 2]},
    {"set", "of", "str"},
    datetime.datetime(2026, 11, 25, 12, 0, tzinfo=datetime.UTC),
    datetime.date(2026, 11, 25),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    decimal.Decimal("3.14159265358979323846"),
    Point(1, 2),
    Color.BLUE,
    Shape("tri", [Point(0, 0), Point(1, 0), Point(0, 1)], Color.RED),
]


def test_values_round_trip_with_equal_value_and_type(run) -> None:
    async def body() -> None:
        reg = registry(Point, Shape, Color)
        async with (
            pb.serve(Mirror(), registry=reg) as server,
            pb.connect("127.0.0.1", server.port, registry=reg) as client,
        ):
            root = await client.root()
            for value in VALUES:
                back = await root.call_remote("echo", value)
                assert back == value
                assert type(back) is type(value)

    run(body)


def test_unregistered_object_is_refused_at_the_sender(run) -> None:
    async def body() -> None:
        async with pb.serve(Mirror()) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            with pytest.raises(pb.InsecureTypeError, match=r"test_copies\.Scary cannot be sent"):
                await root.call_remote("echo", [1, {"k": Scary()}])
            with pytest.raises(pb.InsecureTypeError, match="Point is not registered"):
                await root.call_remote("echo", Point(1, 2))
            assert client.connection.broker.pending_questions == 0
            assert await root.call_remote("echo", "ok") == "ok"

    run(body)


def test_unregistered_result_is_refused_and_reported_to_the_caller(run) -> None:
    async def body() -> None:
        async with pb.serve(Mirror()) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            with pytest.raises(pb.InsecureTypeError, match="the result could not be sent"):
                await root.call_remote("scary")
            assert await root.call_remote("echo", "ok") == "ok"

    run(body)


def test_type_name_unknown_to_the_receiver_fails_that_call_only(run) -> None:
    async def body() -> None:
        # The client admits Point; the server does not: the server refuses that call only.
        async with (
            pb.serve(Mirror(), registry=registry(Color)) as server,
            pb.connect("127.0.0.1", server.port, registry=registry(Point, Color)) as client,
        ):
            root = await client.root()
            with pytest.raises(pb.InsecureTypeError, match='"Point" is not registered'):
                await root.call_remote("kind", Point(1, 2))
            assert await root.call_remote("kind", Color.RED) == "Color"

    run(body)


def test_natives_that_cbor2_knows_but_we_do_not_send_are_refused(run) -> None:
    import fractions
    import ipaddress
    import re

    async def body() -> None:
        async with pb.serve(Mirror()) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            for value in (
                re.compile("a+"),
                fractions.Fraction(1, 3),
                ipaddress.ip_address("127.0.0.1"),
                1j,
                frozenset({"a"}),
            ):
                with pytest.raises(pb.InsecureTypeError):
                    await root.call_remote("echo", value)
            with pytest.raises(pb.InsecureTypeError, match="naive datetime"):
                await root.call_remote("echo", datetime.datetime(2026, 1, 1))

    run(body)


def test_registry_refuses_duplicates_and_non_copyable_classes() -> None:
    reg = pb.Registry()
    reg.register_type(Point)
    reg.register_type(Point)  # the same registration again is harmless

    @dataclasses.dataclass
    class Other:
        a: int

    with pytest.raises(ValueError, match="wire name 'Point' is already registered"):
        reg.register_type(Other, "Point")
    with pytest.raises(TypeError, match="neither a dataclass nor an Enum"):
        reg.register_type(Scary)
    with pytest.raises(TypeError, match="Exception subclass"):
        reg.register_error(Scary)
    with pytest.raises(ValueError, match="invalid wire name"):
        reg.register_type(Other, "no spaces allowed")
