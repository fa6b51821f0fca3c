"""Every annotation the generator accepts, as parameter and result of one interface, with the
interfaces in every place a type may hold them; derived interfaces two deep, with bases in a
sibling module. The type tests call each method through the async and the blocking stub and
implement each on a skeleton; a behaviour test calls each through the blocking stub."""

from __future__ import annotations

import datetime
import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Literal, Optional, Protocol, Union
from uuid import UUID

from base import Base, Other  # type: ignore[import-not-found]

import pbtyped as pb


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    LOW = 1


@dataclass
class Point:
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)


class Derived(Base, Other, Protocol):
    def pong(self) -> int: ...


class Deeper(Derived, Protocol):
    def deep(self) -> int: ...


class Plain(Protocol):
    def here(self) -> int: ...


class Every(Protocol):
    def scalars(
        self, a: None, b: bool, c: int, d: float, e: str, f: bytes
    ) -> tuple[None, bool, int, float, str, bytes]: ...

    def stamps(
        self, a: datetime.datetime, b: datetime.date, c: UUID, d: Decimal
    ) -> tuple[datetime.datetime, datetime.date, UUID, Decimal]: ...

    def containers(
        self,
        a: list[int],
        b: dict[str, int],
        c: dict[bytes, int],
        d: tuple[int, str],
        e: tuple[int, ...],
        f: tuple[()],
        g: set[str],
        h: set[bytes],
    ) -> tuple[list[int], dict[bytes, int], set[bytes], tuple[()]]: ...

    def unions(
        self,
        a: int | None,
        b: Optional[str],  # noqa: UP045
        c: Union[int, str],  # noqa: UP007
        d: "Point | Color | None",  # noqa: UP037
    ) -> int | str | None: ...

    def literals(
        self, a: Literal["a", b"b", 1, True, None]
    ) -> Literal["a", b"b", 1, True, None]: ...

    def limits(
        self,
        a: Annotated[str, pb.MaxLen(3)],
        b: Annotated[bytes, pb.MaxLen(3)],
        c: Annotated[list[int], pb.MaxLen(3)],
        d: Annotated[dict[str, int], pb.MaxLen(3)],
        e: Annotated[set[str], pb.MaxLen(3)],
        f: Annotated[tuple[int, ...], pb.MaxLen(3)],
    ) -> Annotated[list[str], pb.MaxLen(3)]: ...

    def copies(self, a: Point, b: Color, c: Level, *, d: Point | None = None) -> Point: ...

    def base_plain(self, a: Base) -> Base: ...

    def base_optional(self, a: Base | None) -> Base | None: ...

    def derived_plain(self, a: Derived) -> Derived: ...

    def derived_optional(self, a: Derived | None) -> Derived | None: ...

    def deeper_plain(self, a: Deeper) -> Deeper: ...

    def deeper_optional(self, a: Deeper | None = None) -> Deeper | None: ...

    def derived_kw(self, *, a: Derived, b: Derived | None = None) -> int: ...

    def derived_list(self, a: list[Derived]) -> list[Derived]: ...

    def derived_dict(self, a: dict[str, Derived]) -> dict[str, Derived]: ...

    def derived_tuple(self, a: tuple[Derived, int]) -> tuple[Derived, int]: ...

    def derived_vartuple(self, a: tuple[Derived, ...]) -> tuple[Derived, ...]: ...

    def derived_limited(
        self, a: Annotated[list[Derived], pb.MaxLen(2)]
    ) -> Annotated[list[Derived], pb.MaxLen(2)]: ...

    def derived_nested(
        self, a: list[dict[str, Derived | None]]
    ) -> list[dict[str, Derived | None]]: ...

    def derived_union(self, a: Derived | int) -> Derived | int: ...

    def two_interfaces(self, a: Derived | Plain) -> Derived | Plain: ...

    def plain(self, a: Plain) -> Plain: ...

    def stream_in(self, a: AsyncIterator[int]) -> int: ...

    def stream_out(self, n: int) -> AsyncIterator[Point]: ...

    def stream_derived(self, a: AsyncIterator[Derived]) -> AsyncIterator[Derived]: ...

    async def asynchronous(self, a: Derived) -> Derived: ...

    @pb.oneway
    def one_way(self, a: Derived, b: Derived | None = None, *, c: list[Derived]) -> None: ...

    def nothing(self) -> None: ...


class DerivedEvery(Every, Derived, Protocol):
    """Extends an interface of this module and one two deep in a sibling's."""

    def more(self, a: DerivedEvery | None) -> DerivedEvery | None: ...
