"""Every annotation the generator supports, for golden and behaviour tests."""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Literal, Optional, Protocol, Union
from uuid import UUID

from extra import Badge, Tag, Tagger  # type: ignore[import-not-found]

import pbtyped as pb


class Color(enum.Enum):
    """A colour."""

    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclass(frozen=True)
class Point:
    """A point."""

    x: int
    y: int


@dataclass
class Shape:
    """A shape: nested copies, an enum default, a limit."""

    name: Annotated[str, pb.MaxLen(20)]
    points: list[Point]
    color: Color = Color.RED
    label: Optional[str] = None  # noqa: UP045 (the generator must accept the old spelling)
    tags: "list[Tag] | None" = None  # noqa: UP037 (a string annotation)


@dataclass(frozen=True)
class Spot:
    """Every field has a default, so Spot() can make another field's default."""

    x: int = 0
    y: int = field(default=0)


@dataclass
class Basket:
    """Field defaults: each instance gets its own containers and copies."""

    owner: str = field(default="nobody")
    spots: list[Spot] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    labels: Annotated[set[str], pb.MaxLen(4)] = field(default_factory=set)
    spot: Spot = field(default_factory=Spot)
    badge: Badge | None = field(default_factory=Badge)
    a_field_name_long_enough_to_split: dict[str, list[Spot]] = field(default_factory=dict)


class Invalid(pb.Error):
    """The input was refused."""


class TooBig(Invalid):
    """The input was "too big\""""


class Sink(Protocol):
    """Takes bytes."""

    def feed(self, data: bytes) -> int: ...


class Kitchen(Protocol):
    """One method per family of types."""

    def scalars(self, a: None, b: bool, c: int, d: float, e: str, f: bytes) -> None: ...

    def stamps(
        self, when: datetime.datetime, day: datetime.date, ident: UUID, amount: Decimal
    ) -> datetime.datetime: ...

    def containers(
        self,
        xs: list[int],
        m: dict[str, list[Point]],
        t: tuple[int, str],
        vt: tuple[float, ...],
        s: set[str],
        empty: tuple[()],
    ) -> dict[bytes, int]: ...

    def unions(
        self,
        a: int | None,
        b: Union[int, str],  # noqa: UP007
        c: Optional[Color],  # noqa: UP045
        d: "Point | None",  # noqa: UP037
    ) -> int | str | None: ...

    def literals(self, mode: Literal["fast", "slow"], n: Literal[1, 2, -3] = 1) -> Literal["ok"]:
        """Only the listed values are accepted."""
        ...

    def limited(
        self,
        name: Annotated[str, pb.MaxLen(8)],
        blob: Annotated[bytes, pb.MaxLen(1024)],
        items: Annotated[list[int], pb.MaxLen(3)],
    ) -> Level: ...

    def copies(self, shape: Shape, *, scale: float = 1.0, color: Color = Color.GREEN) -> Shape: ...

    def baskets(self, basket: Basket) -> Basket:
        """Field defaults: the fields travel whether or not they hold their default."""
        ...

    def polygon(self, corners: list[Point], *, shapes: list[Shape]) -> list[Point]:
        """Lists of copies: they travel in columns."""
        ...

    def sinks(self, sink: Sink, others: list[Sink]) -> Sink | None: ...

    def held(
        self,
        by_name: dict[str, Sink],
        nested: list[list[Sink]] | None,
        pair: tuple[list[Sink], int],
        more: tuple[Sink, ...],
    ) -> int:
        """References in containers: the client may pass any Sequence or Mapping."""
        ...

    def many(self, n: int) -> list[Sink]:
        """A list of references as a result."""
        ...

    def tagged(self, tagger: Tagger, tag: Tag) -> Tag: ...

    def gauges(
        self,
        gauge: Gauge,
        maybe: Gauge | None,
        listed: list[Gauge],
        by_name: dict[str, Gauge],
        *,
        named: Gauge | None = None,
    ) -> Gauge | None:
        """A derived interface (Gauge extends Counter and Tagger), in every place it may be."""
        ...

    async def flagged(self, on: bool = True, *, reason: str = "none") -> bytes: ...


class Quoted(Protocol):
    """Docstrings survive whole: "quotes", a \\backslash\\, ''' and \"\"\" quotes, \
non-ASCII (na\u00efve \u2013 \u201csmart\u201d), and a line longer than any width allows, wrapped.

    Indented lines keep their place:

        path = "C:\\new\\table" + '\\n'

    It ends with a quote: \""""

    def said(self) -> str:
        """\"hi", as it is: \\ and \\\\ stay, and so do \'\'\' and \"\"\"."""
        ...


class Counter(Protocol):
    """Counts."""

    def count(self) -> int: ...


class Gauge(Counter, Tagger, Protocol):
    """Extends a local and a sibling interface: a counter that tags, and compares."""

    def compare(self, other: Counter, others: list[Counter]) -> int: ...


class Board(Protocol):
    """Takes notes without answering them: one-way methods beside an ordinary one."""

    @pb.oneway
    def post(self, text: str, *, pin: Sink | None = None) -> None:
        """Pin ``text`` on the board; no answer comes back."""
        ...

    @pb.oneway
    def clear(self) -> None: ...

    def notes(self) -> list[str]: ...


class Link(Protocol):
    """Calls to pipeline: each link hands out the next, and values to pass on unseen."""

    def next(self) -> Link: ...

    def value(self, add: int) -> int: ...

    def where(self) -> Point: ...

    def moved(self, point: Point, by: int) -> Point: ...

    def joined(self, other: Link, *, counter: Counter | None = None) -> Link | None: ...

    def close(self) -> None:
        """Named as a promise's own method: a LinkPromise's ``close`` stays the coroutine's."""
        ...
