"""The pieces checkers are built from: each a fast check and an explaining walk.

A node's ``fast(value)`` returns the value, converted where the wire form differs from the
declared one, or raises ``Invalid`` without saying where: a valid value costs no path strings
and, when nothing needed converting, comes back as the very same object (a list of 1,000
records is not copied, nor is any record). Only once ``fast`` has refused does the checker run
``explain(value, path)``, which walks the same value again in the same order, returns where a
part is valid, and raises the ValidationError naming the path of the first part that is not.

Every check costs time linear in the size of the value, whatever a peer sends: each node of
the value is visited a bounded number of times (a converted dataclass resumes after the field
that changed; a union whose options overlap remembers what it decided, see ``union``), and
explaining a refusal is one more walk, not one per level.

``exact`` and ``base`` let containers and unions skip calls: a value whose type is exactly
``exact`` passes unchanged, and one that is not an instance of ``base`` is refused.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import itertools
import keyword
import operator
import threading
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .._exceptions import ValidationError
from ..protocol.interfaces import got, implemented_by
from ..protocol.objects import Referenceable
from ..runtime.reference import RemoteReference, Stub
from ..runtime.streams import CheckedItems, IncomingStream
from ..wire.show import kind, show

__all__ = [
    "BOOL",
    "DATE",
    "FLOAT",
    "INT",
    "NONE",
    "STR",
    "Invalid",
    "Node",
    "dataclass_of",
    "datetime_node",
    "explain_part",
    "explaining",
    "fail",
    "hashable",
    "instance_of",
    "interface",
    "leaf",
    "list_of",
    "literal",
    "mapping",
    "needs_explaining",
    "passes",
    "set_of",
    "tuple_of",
    "union",
    "var_tuple",
]

Fast = Callable[[Any], Any]
Explain = Callable[[Any, str], None]


class Invalid(Exception):
    """Raised by a fast check that refuses a value; never leaves a checker."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Node:
    """A built check: ``fast`` converts or refuses, ``explain`` says where it refuses."""

    fast: Fast
    explain: Explain
    exact: type[Any] | None = None  # a value of exactly this type passes unchanged
    base: type[Any] | tuple[type[Any], ...] | None = None  # a value not of it is refused
    items_exact: type[Any] | None = None  # a list of items all exactly this type passes
    # Whether checking may descend into parts (a container, a dataclass): a union retrying
    # such options on one value is what may repeat work (see ``union``).
    deep: bool = True
    # Whether a value of it may nest without bound (it reaches a recursive dataclass): its
    # refusals are explained without asking ``fast`` first (see ``explain_part``).
    recursive: bool = False


def fail(path: str, expected: str, value: Any) -> ValidationError:
    """The usual refusal: ``$.p.x: expected int, got text string``: the type the schema
    declares, and what came by its CBOR kind (a peer in any language reads it)."""
    return ValidationError(f"{path}: expected {expected}, got {kind(value)}")


def passes(fast: Fast, value: Any) -> bool:
    """Whether ``fast`` accepts ``value`` (explaining walks ask this of each part)."""
    try:
        fast(value)
    except Invalid:
        return False
    return True


def explain_part(node: Node, value: Any, path: str) -> None:
    """Explain ``value`` at ``path`` if ``node`` refuses it; return if it passes.

    A part the fast check accepts needs no explaining, and the fast check is the quicker
    walk; but asking it first at every level walks a refused part again at each level above
    it, which for a recursive type (nested as deep as a peer likes) costs size times depth.
    So a recursive node is explained directly: an explaining walk returns on a valid value.
    """
    if needs_explaining(node, value):
        node.explain(value, path)


def needs_explaining(node: Node, value: Any) -> bool:
    """Whether to walk ``value`` with ``node``'s explaining walk (see ``explain_part``); the
    loops over items ask this first, so a path string is made only for a part explained."""
    return node.recursive or not passes(node.fast, value)


def shown(value: Any) -> str:
    """A set member or dict key as a path shows it: a text string as RFC 9535 writes a name in
    a normalized path (``$['k']``), anything else as ``show`` writes it (``h'00ff'``,
    ``Color.RED``), within 40 characters. Cheap and never failing: a peer's int of 5,000
    digits has no decimal text, a registered class's ``repr`` may raise, and a large
    container would be printed whole only to be cut."""
    if type(value) is str:
        return f"'{value[:37].translate(_PATH_ESCAPES)}'"[:40]
    return show(value)


#: RFC 9535 section 2.7: how a normalized path escapes a name's characters.
_PATH_ESCAPES = {
    **{c: f"\\u{c:04x}" for c in range(0x20)},
    **{ord(c): e for c, e in zip("\b\f\n\r\t", ("\\b", "\\f", "\\n", "\\r", "\\t"), strict=True)},
    ord("'"): "\\'",
    ord("\\"): "\\\\",
}


def leaf(
    fast: Fast,
    expected: str,
    exact: type[Any] | None = None,
    base: type[Any] | tuple[type[Any], ...] | None = None,
) -> Node:
    """A node for a scalar, refused with ``expected X, got Y``."""

    def explain(value: Any, path: str) -> None:
        if not passes(fast, value):
            raise fail(path, expected, value)

    return Node(fast, explain, exact, base, deep=False)


def _items(item: Fast, value: Sequence[Any]) -> Sequence[Any]:
    """``value`` itself if every item passes unchanged, else a list of the checked items."""
    for v in value:
        w = item(v)
        if w is not v:
            break
    else:
        return value
    # Found without counting (cheaper for the common case): the first item that is ``v``
    # itself is where the change is, as the same object would have changed there too.
    i = 0
    for x in value:
        if x is v:
            break
        i += 1
    out = list(value[:i])
    out.append(w)
    if i + 1 < len(value):
        out.extend(map(item, itertools.islice(value, i + 1, None)))
    return out


def _explain_items(item: Node, value: Sequence[Any], path: str) -> None:
    for i, v in enumerate(value):
        if needs_explaining(item, v):
            item.explain(v, f"{path}[{i}]")


def list_of(item: Node, expected: str) -> Node:
    """``list[X]``: exactly a list; the same list back unless an item needed converting."""
    item_fast, exact = item.fast, item.exact

    def fast(value: Any) -> Any:
        if type(value) is not list:
            raise Invalid
        return _items(item_fast, value)

    def fast_exact(value: Any) -> Any:
        # list[int], list[str]...: one type scan; anything else takes the general way.
        if type(value) is not list:
            raise Invalid
        for v in value:
            if type(v) is not exact:
                return _items(item_fast, value)
        return value

    def explain(value: Any, path: str) -> None:
        if type(value) is not list:
            raise fail(path, expected, value)
        _explain_items(item, value, path)

    if exact is None:
        return Node(fast, explain, base=list, recursive=item.recursive)
    return Node(fast_exact, explain, base=list, items_exact=exact, recursive=item.recursive)


def var_tuple(item: Node, expected: str) -> Node:
    """``tuple[X, ...]``: a tuple or list in, a tuple out (the same tuple if nothing changed)."""
    item_fast = item.fast

    def fast(value: Any) -> Any:
        if not isinstance(value, tuple | list):
            raise Invalid
        out = _items(item_fast, value)
        return value if out is value and type(value) is tuple else tuple(out)

    def explain(value: Any, path: str) -> None:
        if not isinstance(value, tuple | list):
            raise fail(path, expected, value)
        _explain_items(item, value, path)

    return Node(fast, explain, base=(tuple, list), recursive=item.recursive)


def tuple_of(items: list[Node], expected: str) -> Node:
    """``tuple[X, Y]``: a tuple or list of that length in, a tuple out."""
    fasts = [n.fast for n in items]
    n = len(items)

    def fast(value: Any) -> Any:
        if not isinstance(value, tuple | list) or len(value) != n:
            raise Invalid
        out = [f(v) for f, v in zip(fasts, value, strict=True)]
        if type(value) is tuple and all(map(operator.is_, out, value)):
            return value
        return tuple(out)

    def explain(value: Any, path: str) -> None:
        if not isinstance(value, tuple | list):
            raise fail(path, expected, value)
        if len(value) != n:
            raise ValidationError(f"{path}: expected {n} items, got {len(value)}")
        for i, (node, v) in enumerate(zip(items, value, strict=True)):
            if needs_explaining(node, v):
                node.explain(v, f"{path}[{i}]")

    return Node(fast, explain, base=(tuple, list), recursive=any(n.recursive for n in items))


def set_of(item: Node, expected: str, result: type[set[Any]] | type[frozenset[Any]]) -> Node:
    """``set[X]`` (or ``frozenset[X]``): either kind in, ``result`` out, the same if it is one
    and no member needed converting."""
    item_fast = item.fast

    def fast(value: Any) -> Any:
        if not isinstance(value, set | frozenset):
            raise Invalid
        out = [item_fast(v) for v in value]
        if type(value) is result and all(map(operator.is_, out, value)):
            return value  # a set iterates in the same order while unchanged
        return result(out)

    def explain(value: Any, path: str) -> None:
        if not isinstance(value, set | frozenset):
            raise fail(path, expected, value)
        for v in value:
            if needs_explaining(item, v):
                item.explain(v, f"{path}[{shown(v)}]")

    return Node(fast, explain, base=(set, frozenset), recursive=item.recursive)


def mapping(key: Node, val: Node, expected: str) -> Node:
    """``dict[K, V]``: exactly a dict; the same dict back unless a key or value was converted."""
    key_fast, val_fast = key.fast, val.fast
    key_exact, val_exact = key.exact, val.exact

    def fast(value: Any) -> Any:
        if type(value) is not dict:
            raise Invalid
        if key_exact is not None and val_exact is not None:
            for k, v in value.items():
                if type(k) is not key_exact or type(v) is not val_exact:
                    break
            else:
                return value
        for i, (k, v) in enumerate(value.items()):
            nk, nv = key_fast(k), val_fast(v)
            if nk is not k or nv is not v:
                out = dict(itertools.islice(value.items(), i))
                out[nk] = nv
                for k2, v2 in itertools.islice(value.items(), i + 1, None):
                    out[key_fast(k2)] = val_fast(v2)
                return out
        return value

    def explain(value: Any, path: str) -> None:
        if type(value) is not dict:
            raise fail(path, expected, value)
        for k, v in value.items():
            # A wrong value is named before a wrong key of the same entry.
            if needs_explaining(val, v):
                val.explain(v, f"{path}[{shown(k)}]")
            if needs_explaining(key, k):
                key.explain(k, f"{path}[{shown(k)}]")

    return Node(fast, explain, base=dict, recursive=key.recursive or val.recursive)


def dataclass_of(cls: type[Any], fields: list[tuple[str, Node]]) -> Node:
    """A dataclass: exactly ``cls``, each field checked; the same object back unless a field
    needed converting, then a copy made with ``dataclasses.replace``."""

    tails = [fields[i:] for i in range(len(fields) + 1)]

    def convert(value: Any, start: int, changes: dict[str, Any]) -> Any:
        # Called by the compiled check once it met a field to convert: the fields before
        # ``start`` are checked already (``changes`` holds what they became), so each is
        # checked once; checking them again made every level walk its subtree twice.
        for name, node in tails[start]:
            old = getattr(value, name)
            new = node.fast(old)
            if new is not old:
                changes[name] = new
        if not changes:
            return value
        try:
            return dataclasses.replace(value, **changes)
        except Exception:
            # The class's own ``__post_init__`` refused the converted fields: a refusal that
            # no field explains, so the checker names the whole value (``refused as``).
            raise Invalid from None

    def explain(value: Any, path: str) -> None:
        if type(value) is not cls:
            raise fail(path, cls.__name__, value)
        for name, node in fields:
            part = getattr(value, name)
            if needs_explaining(node, part):
                node.explain(part, f"{path}.{name}")

    fast = _compile_fast(cls, fields, convert)
    return Node(fast, explain, base=cls, recursive=any(n.recursive for _, n in fields))


def _compile_fast(
    cls: type[Any], fields: list[tuple[str, Node]], convert: Callable[[Any, int, Any], Any]
) -> Fast:
    # One function per class, written out as source (as ``dataclasses`` writes ``__init__``):
    # a record's scalar fields become one ``type(...) is`` test each and a list[int] field one
    # loop, with no call or field-table lookup per field; about twice as fast as a loop over
    # the fields. Anything unusual (a conversion, a refusal) goes to ``convert``, which checks
    # the fields not checked yet and says nothing of paths: ``explain`` does that. Only field
    # names and names bound in ``env`` appear in the source; a dataclass's field names are
    # identifiers (it writes its own ``__init__`` with them), and anything else is refused here.
    env: dict[str, Any] = {"cls": cls, "Invalid": Invalid, "convert": convert}
    scalars: list[str] = []
    rest: list[str] = []
    for i, (name, node) in enumerate(fields):
        if not name.isidentifier() or keyword.iskeyword(name):
            raise TypeError(f"pbtyped cannot check {cls.__name__}: field name {name!r:.40}")
        get = f"value.{name}"
        if node.exact is not None:
            env[f"t{i}"] = node.exact
            scalars.append(f"type({get}) is not t{i}")
        elif node.items_exact is not None:
            # The scalars passed, and so did the fields before this one: start here.
            env[f"t{i}"] = node.items_exact
            rest += [
                f"    v = {get}",
                "    if type(v) is not list:",
                f"        return convert(value, {i}, {{}})",
                "    for x in v:",
                f"        if type(x) is not t{i}:",
                f"            return convert(value, {i}, {{}})",
            ]
        else:
            # What this field became is handed on, so its subtree is not checked twice.
            env[f"f{i}"] = node.fast
            rest += [
                f"    v = {get}",
                f"    w = f{i}(v)",
                "    if w is not v:",
                f"        return convert(value, {i + 1}, {{{name!r}: w}})",
            ]
    lines = ["def fast(value):", "    if type(value) is not cls:", "        raise Invalid"]
    if scalars:
        lines += [f"    if {' or '.join(scalars)}:", "        return convert(value, 0, {})"]
    lines += [*rest, "    return value"]
    # Named after the class, so a traceback through it says whose check it is.
    exec(compile("\n".join(lines), f"<pbtyped check of {cls.__qualname__}>", "exec"), env)
    fast: Fast = env["fast"]
    return fast


class _Memo(threading.local):
    """What the overlapping unions decided during the outermost check running in this thread:
    per union, the id of a part of the value -> what the union made of it (or ``_REFUSED``).

    Ids are safe keys: every part is reachable from the value being checked, which its caller
    holds until the check returns, so no part is freed and its id reused meanwhile.
    """

    def __init__(self) -> None:
        self.tables: dict[int, dict[int, Any]] | None = None
        self.evaluations = 0  # overlapping-union decisions made, for ``remembered``


_MEMO = _Memo()
_REFUSED: Any = object()
_MISSING: Any = object()


def explaining(explain: Explain, value: Any, path: str) -> None:
    """Run an explaining walk with one memo for all the overlapping unions it meets: a union
    explains a refusal by trying each option, and the second option's walk then finds what
    the first one's decided below it."""
    memo = _MEMO
    if memo.tables is not None:
        explain(value, path)
        return
    memo.tables = {}
    memo.evaluations = 0
    try:
        explain(value, path)
    finally:
        memo.tables = None


def union(options: list[Node], expected: str) -> Node:
    """``X | Y``: the first option that accepts the value decides (and may convert it)."""
    plan = [(o.exact, o.base, o.fast) for o in options]

    def fast(value: Any) -> Any:
        t = type(value)
        for exact, base, f in plan:
            # Every option before this one refused; this one takes its exact type unchanged,
            # and cannot take what is not of its base.
            if t is exact:
                return value
            if base is not None and not isinstance(value, base):
                continue
            try:
                return f(value)
            except Invalid:
                continue
        raise Invalid

    def explain(value: Any, path: str) -> None:
        if not any(passes(f, value) for _, _, f in plan):
            raise fail(path, expected, value)

    deep = [o for o in options if o.deep]
    overlapping = any(_may_share(a, b) for a, b in itertools.combinations(deep, 2))
    chosen = _remembered(fast, id(plan)) if overlapping else fast
    recursive = any(o.recursive for o in options)
    return Node(chosen, explain, deep=bool(deep), recursive=recursive)


def _may_share(a: Node, b: Node) -> bool:
    """Whether one value may be of both nodes' bases (unknown bases may)."""
    if a.base is None or b.base is None:
        return True
    bases_a = a.base if isinstance(a.base, tuple) else (a.base,)
    bases_b = b.base if isinstance(b.base, tuple) else (b.base,)
    return any(issubclass(x, y) or issubclass(y, x) for x in bases_a for y in bases_b)


def _remembered(decide: Fast, token: int) -> Fast:
    """``decide`` for a union whose options may both walk deep into one value.

    Such a union tries an option, which may walk the whole value before refusing it, then
    the next, which walks it again: with the union met again at every level (``A(kids:
    list[A] | tuple[A, ...])``), the work doubles per level, exponential in the depth for a
    value refused deep down. Remembering, for the length of the outermost check, what the
    union decided for each part it saw makes each part decided once. A decision that met no
    other such union below it walked a plain subtree: it is cheap to repeat (its enclosing
    decision, which is remembered, repeats it at most once per option) and is not stored,
    which keeps the table to a fraction of the value's size.
    """

    def remembered(value: Any) -> Any:
        memo = _MEMO
        tables = memo.tables
        if tables is None:
            # The outermost: the table lives for this one check, whatever it raises.
            memo.tables = {}
            memo.evaluations = 0
            try:
                return remembered(value)
            finally:
                memo.tables = None
        table = tables.get(token)
        if table is None:
            table = tables[token] = {}
        known = table.get(id(value), _MISSING)
        if known is not _MISSING:
            if known is _REFUSED:
                raise Invalid
            return known
        before = memo.evaluations = memo.evaluations + 1
        try:
            out = decide(value)
        except Invalid:
            if memo.evaluations != before:
                table[id(value)] = _REFUSED
            raise
        if memo.evaluations != before:
            table[id(value)] = out
        return out

    return remembered


def literal(values: tuple[Any, ...], expected: str) -> Node:
    """``Literal[...]``: one of the values, of the same type (``Literal[1]`` refuses True)."""
    allowed = frozenset((type(v), v) for v in values)
    kinds = tuple({type(v) for v in values})

    def fast(value: Any) -> Any:
        # The type first: only a str, bytes, int, bool or enum member is hashed, never a
        # peer's container or a registered class's own ``__hash__``.
        if type(value) in kinds and (type(value), value) in allowed:
            return value
        raise Invalid

    def explain(value: Any, path: str) -> None:
        if passes(fast, value):
            return
        if isinstance(value, str | bytes | int):
            raise ValidationError(f"{path}: expected {expected}, got {show(value)}")
        raise fail(path, expected, value)

    return Node(fast, explain, base=kinds, deep=False)


def hashable(value: Any) -> bool:
    """True if ``value`` can be hashed (a set member, a dict key, a literal looked up)."""
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _fast_datetime(value: Any) -> Any:
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return value
    raise Invalid


def _explain_datetime(value: Any, path: str) -> None:
    if not isinstance(value, datetime.datetime):
        raise fail(path, "datetime", value)
    if value.tzinfo is None:
        raise ValidationError(f"{path}: expected an aware datetime, got a naive one")


def datetime_node() -> Node:
    """``datetime``: an aware one only."""
    return Node(_fast_datetime, _explain_datetime, base=datetime.datetime, deep=False)


def stream_of(item: Node, expected: str, item_expected: str, outbound: bool) -> Node:
    """A stream (a whole parameter or result): an async iterator going out; coming in, the
    stream the peer writes, whose items are then checked as they are taken: a bad one ends
    the stream where it is iterated, with ValidationError at ``$.items[k]``."""

    def check_item(value: Any, index: int) -> Any:
        try:
            return item.fast(value)
        except Invalid:
            pass
        path = f"$.items[{index}]"
        explaining(item.explain, value, path)
        raise ValidationError(f"{path}: refused as {item_expected}")

    def fast(value: Any) -> Any:
        if outbound:
            if hasattr(type(value), "__anext__"):
                return value
            raise Invalid
        if type(value) is IncomingStream:
            value.check = check_item
            return value
        if hasattr(type(value), "__anext__"):  # our own object's, called in place
            return CheckedItems(value, check_item)
        raise Invalid

    def explain(value: Any, path: str) -> None:
        if not passes(fast, value):
            raise fail(path, expected, value)

    return Node(fast, explain, deep=False)


def interface(stub: type[Stub], outbound: bool) -> Node:
    """An interface: its stub, a remote reference (made a stub inbound), or our own object that
    implements it (back home; made a stub inbound).

    A reference implements the interface if its names include it (an interface extending it
    names it too). A remote reference whose peer named nothing (an older peer) passes: the
    peer's word is all there is about what its object implements.
    """
    name = str(getattr(stub, "pb_interface", stub.__name__))

    def fast(value: Any) -> Any:
        if isinstance(value, stub):
            return value
        if isinstance(value, RemoteReference):
            names = value.pb_interfaces
            if names is not None and name not in names:
                raise Invalid
            return value if outbound else stub(value)
        if isinstance(value, Referenceable) and name in implemented_by(type(value)):
            # Our own object, sent out earlier and now back home: keep it usable as a stub.
            return value if outbound else stub(typing.cast(Any, value))
        raise Invalid

    def explain(value: Any, path: str) -> None:
        if passes(fast, value):
            return
        if isinstance(value, RemoteReference) and value.pb_interfaces is not None:
            names = value.pb_interfaces
        elif isinstance(value, Referenceable):
            names = implemented_by(type(value))
        else:
            raise fail(path, name.rpartition(".")[2], value)
        raise ValidationError(f"{path}: expected a reference to {name}, got {got(names)}")

    return Node(fast, explain, exact=stub, deep=False)


def _fast_none(value: Any) -> Any:
    if value is None:
        return None
    raise Invalid


def _fast_bool(value: Any) -> Any:
    if type(value) is bool:
        return value
    raise Invalid


def _fast_int(value: Any) -> Any:
    if type(value) is int:
        return value
    # An int subclass becomes a plain int; bool and IntEnum members are not ints here.
    if isinstance(value, int) and not isinstance(value, bool | enum.Enum):
        return int(value)
    raise Invalid


_SMALL_FLOATS = tuple(float(i) for i in range(-256, 256))


def _fast_float(value: Any) -> Any:
    if type(value) is float:
        return value
    # An int is a valid float (as for the type checker); CBOR may send 2.0 as 2. One beyond
    # the float range (10**400) is refused like any other wrong value.
    if type(value) is int:
        if -256 <= value < 256:
            # A 1- or 2-byte int would cost a new 24-byte float each: share floats made once.
            return _SMALL_FLOATS[value + 256]
        try:
            return float(value)
        except OverflowError:
            raise Invalid from None
    raise Invalid


def _explain_float(value: Any, path: str) -> None:
    if type(value) is int and not passes(_fast_float, value):
        raise ValidationError(f"{path}: expected float, got an integer too large for a float")
    if not passes(_fast_float, value):
        raise fail(path, "float", value)


def _fast_str(value: Any) -> Any:
    if type(value) is str:
        return value
    raise Invalid


def _fast_date(value: Any) -> Any:
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    raise Invalid


def instance_of(cls: type[Any], expected: str) -> Node:
    """Any instance of ``cls`` (bytes, UUID, Decimal, an enum), returned as it is."""

    def fast(value: Any) -> Any:
        if isinstance(value, cls):
            return value
        raise Invalid

    return leaf(fast, expected, exact=cls, base=cls)


NONE = leaf(_fast_none, "null", exact=type(None), base=type(None))
BOOL = leaf(_fast_bool, "bool", exact=bool, base=bool)
INT = leaf(_fast_int, "int", exact=int, base=int)
FLOAT = Node(_fast_float, _explain_float, exact=float, base=(float, int), deep=False)
STR = leaf(_fast_str, "str", exact=str, base=str)
DATE = leaf(_fast_date, "date", exact=datetime.date, base=datetime.date)
