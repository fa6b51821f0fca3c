"""The objects the fuzzed servers offer, and the registry both ends use."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import pbtyped as pb


@dataclass(frozen=True)
class Point:
    """A registered copyable type (wire name ``fuzz.Point``)."""

    x: int
    y: int


class Color(enum.Enum):
    """A registered enum (wire name ``fuzz.Color``)."""

    RED = 1
    GREEN = 2


class Boom(pb.Error):
    """A registered error (wire name ``fuzz.Boom``)."""


def make_registry() -> pb.Registry:
    """A fresh registry holding the fuzz types (one per broker pair or server)."""
    registry = pb.Registry()
    registry.register_type(Point, "fuzz.Point")
    registry.register_type(Color, "fuzz.Color")
    registry.register_error(Boom, "fuzz.Boom")
    return registry


class Thing(pb.Referenceable):
    """An object handed out by reference."""

    def remote_ping(self) -> str:
        return "pong"

    def remote_echo(self, *args: Any, **kwargs: Any) -> Any:
        return args[0] if args else kwargs


#: Most references the root keeps for a peer (so the fuzzed server's memory is bounded).
KEEP = 16


class FuzzRoot(pb.Root):
    """A root whose methods accept anything, so hostile input reaches deep into the runtime."""

    def __init__(self) -> None:
        self.kept: list[Any] = []

    def remote_echo(self, *args: Any, **kwargs: Any) -> Any:
        return args[0] if args else kwargs

    def remote_make(self, *args: Any, **kwargs: Any) -> Thing:
        return Thing()

    def remote_keep(self, *args: Any, **kwargs: Any) -> int:
        self.kept.extend(args)
        del self.kept[:-KEEP]
        return len(self.kept)

    def remote_drop(self, *args: Any, **kwargs: Any) -> None:
        self.kept.clear()

    def remote_boom(self, *args: Any, **kwargs: Any) -> None:
        raise Boom("boom")

    def remote_copy(self, *args: Any, **kwargs: Any) -> list[Any]:
        return [Point(x=1, y=2), Color.GREEN, (1, "two")]

    def remote_kind(self, *args: Any, **kwargs: Any) -> str:
        return type(args[0]).__name__ if args else "none"


METHODS = ["echo", "make", "keep", "drop", "boom", "copy", "kind", "ping"]
