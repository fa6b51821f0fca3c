"""Which arguments and results generated code marks to travel in columns (sans-IO)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import pbtyped as pb
from pbtyped.typed import support
from pbtyped.wire.columns import Columns


@dataclasses.dataclass
class Row:
    a: int
    b: str


SPEC = support.interface(
    "t.Rows",
    rows=support.method(
        support.param("first", list[Row]),
        support.param("ints", list[int]),
        support.param("limited", Annotated[list[Row], pb.MaxLen(5)]),
        support.param("maybe", list[Row] | None, kw_only=True, default=None),
        support.param("more", list[Row], kw_only=True, default=[]),
        returns=list[Row],
    ),
    count=support.method(support.param("rows", list[Row]), returns=int),
)


class Rows(pb.Root):
    pb_interface = "t.Rows"

    def pb_dispatch(self, method: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        return support.dispatch(SPEC, self, method, args, kwargs)

    def remote_rows(self, first: Any, ints: Any, limited: Any, **kwargs: Any) -> Any:
        return first

    def remote_count(self, rows: Any) -> int:
        return len(rows)


def test_arguments_declared_as_lists_of_dataclasses_are_marked() -> None:
    rows = [Row(1, "x")]
    args, kwargs = SPEC.methods["rows"].pack((rows, [1], rows), {"maybe": rows, "more": rows})
    assert [type(a) for a in args] == [Columns, list, Columns]
    assert args[0] == rows
    assert args[0] is not rows
    # ``list[Row] | None`` is not marked (only a plain ``list[D]`` is), ``more`` is.
    assert {k: type(v) for k, v in kwargs.items()} == {"maybe": list, "more": Columns}
    # Values that are not lists stay as they are, for the peer's checks to refuse.
    args, _ = SPEC.methods["rows"].pack(((Row(1, "x"),), [], None), {})
    assert [type(a) for a in args] == [tuple, list, type(None)]


def test_results_declared_as_lists_of_dataclasses_are_marked() -> None:
    rows = [Row(1, "x"), Row(2, "y")]
    result = Rows().pb_dispatch("rows", [rows, [], []], {})
    assert type(result) is Columns
    assert result == rows
    assert Rows().pb_dispatch("count", [rows], {}) == 2
