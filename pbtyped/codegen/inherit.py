"""Interfaces that extend interfaces, checked across all schema modules before rendering.

Refused, each at its ``file:line``: inheritance cycles, a method declared again (no overrides:
one name, one signature, everywhere an interface reaches), and bases in an order Python could
not linearize (the generated classes inherit as the interfaces do, so their MRO must exist).
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from .errors import SchemaError

__all__ = ["MAX_ANCESTORS", "Declared", "Key", "bases_first", "check", "postorder"]

T = TypeVar("T")

#: How many interfaces one interface may extend, directly or not. Real schemas have a few; the
#: bound keeps each linearization, and so the checks here (and Python's own when it imports
#: the generated classes), linear in the size of the schemas instead of quadratic.
MAX_ANCESTORS = 100


class Key(NamedTuple):
    """An interface of the schemas: its schema module and its name."""

    module: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Declared:
    """What the inheritance checks need of one interface, as parsed."""

    key: Key
    path: str  # the schema file, as errors show it
    node: ast.ClassDef
    bases: tuple[Key, ...]
    methods: Mapping[str, ast.stmt]  # its own methods, by name


def _show(key: Key, seen_from: Key) -> str:
    return key.name if key.module == seen_from.module else f"{key.module}.{key.name}"


def check(declared: Mapping[Key, Declared]) -> list[SchemaError]:
    """Every cycle, method clash and impossible base order, each at its ``file:line``.

    An interface extending one that is refused (or missing from ``declared``: it had errors
    of its own) is not checked: its errors would be about what it inherits.
    """
    errors: list[SchemaError] = []
    failed: set[Key] = set()
    mros: dict[Key, list[Key]] = {}

    def cycle(keys: list[Key]) -> None:
        me = declared[keys[0]]
        shown = " -> ".join(_show(k, keys[0]) for k in keys)
        errors.append(
            SchemaError(
                me.path, me.node.lineno, f"{keys[0].name}: interfaces extend each other: {shown}"
            )
        )
        failed.update(keys)

    # Bases first, so a clash is reported where it is made, not where it is inherited; an
    # edge closing a cycle is reported, then skipped.
    bases = {key: [b for b in d.bases if b in declared] for key, d in declared.items()}
    for key in postorder(declared, bases.__getitem__, cycle):
        me = declared[key]
        if key in failed or any(b in failed or b not in mros for b in me.bases):
            failed.add(key)
            continue
        try:
            mros[key] = _mro(me, mros)
        except SchemaError as exc:
            errors.append(exc)
            failed.add(key)
            continue
        clashes = _verify(declared, key, mros[key])
        if clashes:
            errors.extend(clashes)
            failed.add(key)
    return errors


def _mro(me: Declared, mros: Mapping[Key, list[Key]]) -> list[Key]:
    """The C3 linearization of ``me`` (its bases' are in ``mros``); SchemaError if none."""
    order = _merge([mros[base] for base in me.bases] + [list(me.bases)])
    if order is None:
        names = ", ".join(_show(b, me.key) for b in me.bases)
        raise SchemaError(
            me.path,
            me.node.lineno,
            f"{me.key.name}: its bases ({names}) cannot be put in one order; list an "
            "interface before the interfaces it extends",
        )
    if len(order) > MAX_ANCESTORS:
        raise SchemaError(
            me.path,
            me.node.lineno,
            f"{me.key.name}: extends {len(order)} interfaces, directly or not (at most "
            f"{MAX_ANCESTORS}): extend fewer",
        )
    return [me.key, *order]


def _merge(seqs: list[list[Key]]) -> list[Key] | None:
    """C3's merge of ``seqs``, or None if they admit no order. Each step costs the number of
    sequences (a count of each key's places past a head replaces a scan of every tail), so a
    long chain of interfaces costs the length of its linearizations, not their square."""
    tails = Counter(k for s in seqs for k in s[1:])
    at = [0] * len(seqs)
    out: list[Key] = []
    while True:
        live = [i for i, s in enumerate(seqs) if at[i] < len(s)]
        if not live:
            return out
        head = next((seqs[i][at[i]] for i in live if not tails[seqs[i][at[i]]]), None)
        if head is None:
            return None
        out.append(head)
        for i in live:
            if seqs[i][at[i]] == head:
                at[i] += 1
                if at[i] < len(seqs[i]):
                    tails[seqs[i][at[i]]] -= 1


def _verify(declared: Mapping[Key, Declared], key: Key, order: list[Key]) -> list[SchemaError]:
    """An error for each method name of ``key``'s linearization ``order`` with two owners."""
    me = declared[key]
    owners: dict[str, Key] = {}
    errors = []
    for ancestor in order:
        for name in declared[ancestor].methods:
            owner = owners.setdefault(name, ancestor)
            if owner == ancestor:
                continue
            if owner == key:
                errors.append(
                    SchemaError(
                        me.path,
                        me.methods[name].lineno,
                        f"{key.name}.{name}: name clash: {name} is declared by "
                        f"{_show(ancestor, key)}, which {key.name} extends (methods are not "
                        "redeclared)",
                    )
                )
            else:
                errors.append(
                    SchemaError(
                        me.path,
                        me.node.lineno,
                        f"{key.name}: name clash: method {name} comes from both "
                        f"{_show(owner, key)} and {_show(ancestor, key)}",
                    )
                )
    return errors


def bases_first(names: list[str], bases: Mapping[str, list[str]]) -> list[str]:
    """``names`` (one module's interfaces, in source order) with every local base moved
    before the interfaces extending it, as class statements need. Cycles are left for
    ``check`` to report."""
    return postorder(names, lambda n: [b for b in bases.get(n, []) if b in bases], _ignore)


def _ignore(cycle: list[Any]) -> None:
    return None


def postorder(
    roots: Iterable[T],
    edges: Callable[[T], Iterable[T]],
    on_cycle: Callable[[list[T]], None],
    state: dict[T, bool] | None = None,
) -> list[T]:
    """The nodes reached from ``roots`` (depth first, edges in order), each after every node
    its edges reach. A cycle is given to ``on_cycle`` as ``[a, b, ..., a]`` (it may raise;
    else that edge is skipped). ``state`` (a node is True once placed, False while on the
    path) may be shared by several calls, so a node is placed only once.

    Without recursion: a chain of any length (modules importing each other, interfaces
    extending each other) is walked without reaching Python's recursion limit.
    """
    state = {} if state is None else state
    out: list[T] = []
    for root in roots:
        if root in state:
            continue
        state[root] = False
        path, todo = [root], [iter(edges(root))]
        while todo:
            node = next(todo[-1], None)
            if node is None:
                state[path[-1]] = True
                out.append(path.pop())
                todo.pop()
            elif node not in state:
                state[node] = False
                path.append(node)
                todo.append(iter(edges(node)))
            elif not state[node]:
                on_cycle([*path[path.index(node) :], node])
    return out
