"""Lists of one registered dataclass sent column by column (tag ``COLUMNS``, feature "columns").

A list of 1,000 records sent as copies costs one Python callback per record on each side and
repeats the type name 1,000 times. Sent as columns it is ``[wire name, [column, ...]]``: one
list per field, each holding that field of every record in order. The encoder reads each
column with one ``map(attrgetter)`` in native code, the decoder rebuilds every record with one
``map(cls, *columns)``; the field values themselves still go through the encoder table, so
nested copies, references and attachments work as anywhere else.

Only values wrapped in ``Columns`` are considered (generated stubs and skeletons wrap the
arguments and results declared ``list[SomeDataclass]``), and only when the peer's Hello listed
the "columns" feature; otherwise, and whenever the items are not all of one registered
dataclass with at least ``MIN_FIELDS`` fields, the list goes as an ordinary list of copies.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

__all__ = ["MIN_FIELDS", "Columns", "build_rows", "column_getters"]

#: Fewest fields a class needs to travel in columns. A one-field record costs a single byte
#: per record as a column, and building it costs ~150 bytes of memory: with at least two the
#: worst case stays near what plain CBOR already allows (an array of empty maps, ~64x).
MIN_FIELDS = 2


class Columns(list[Any]):
    """A list that may travel column by column; otherwise an ordinary list.

    Made by generated code for the wire only: a peer always receives a plain ``list``.
    """

    __slots__ = ()


@functools.cache  # one set per field list, shared by every connection (not per connection)
def column_getters(fields: tuple[str, ...]) -> tuple[Callable[[Any], Any], ...] | None:
    """One getter per field for a class that may travel in columns, None if it may not."""
    if len(fields) < MIN_FIELDS:
        return None
    return tuple(operator.attrgetter(name) for name in fields)


def build_rows(
    cls: type[Any], fields: tuple[str, ...], positional: bool, columns: list[list[Any]]
) -> list[Any]:
    """Every record of checked, equally long ``columns``, each built through ``cls.__init__``."""
    if positional:
        return list(map(cls, *columns))
    return [cls(**dict(zip(fields, row, strict=True))) for row in zip(*columns, strict=True)]
