"""Interfaces that extend interfaces, checked across all schema modules before rendering.

Refused, each at its ``file:line``: inheritance cycles, a method declared again (no overrides:
one name, one signature, everywhere an interface reaches), and bases in an order Python could
not linearize (the generated classes inherit as the interfaces do, so their MRO must exist).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import SchemaError

__all__ = ["Declared", "Key", "bases_first", "check"]

Key = tuple[str, str]  # (schema module, interface name)


@dataclass(frozen=True, slots=True, kw_only=True)
class Declared:
    """What the inheritance checks need of one interface, as parsed."""

    key: Key
    path: str  # the schema file, as errors show it
    node: ast.ClassDef
    bases: tuple[Key, ...]
    methods: Mapping[str, ast.stmt]  # its own methods, by name


def _show(key: Key, seen_from: Key) -> str:
    return key[1] if key[0] == seen_from[0] else f"{key[0]}.{key[1]}"


def check(declared: Mapping[Key, Declared]) -> None:
    """Raise SchemaError at the first cycle, method clash or impossible base order."""
    mros: dict[Key, list[Key]] = {}

    def mro(key: Key, chain: list[Key]) -> list[Key]:
        if key in mros:
            return mros[key]
        me = declared[key]
        if key in chain:
            cycle = " -> ".join(_show(k, key) for k in [*chain[chain.index(key) :], key])
            raise SchemaError(
                me.path, me.node.lineno, f"{key[1]}: interfaces extend each other: {cycle}"
            )
        seqs = [list(mro(base, [*chain, key])) for base in me.bases] + [list(me.bases)]
        order = [key]
        while any(seqs):
            head = next((s[0] for s in seqs if s and not any(s[0] in t[1:] for t in seqs)), None)
            if head is None:
                names = ", ".join(_show(b, key) for b in me.bases)
                raise SchemaError(
                    me.path,
                    me.node.lineno,
                    f"{key[1]}: its bases ({names}) cannot be put in one order; list an "
                    "interface before the interfaces it extends",
                )
            order.append(head)
            seqs = [s[1:] if s and s[0] == head else s for s in seqs]
        mros[key] = order
        return order

    verified: set[Key] = set()

    def verify(key: Key) -> None:
        # Bases first, so a clash is reported where it is made, not where it is inherited.
        if key in verified:
            return
        order = mro(key, [])
        for base in declared[key].bases:
            verify(base)
        me = declared[key]
        owners: dict[str, Key] = {}
        for ancestor in order:
            for name in declared[ancestor].methods:
                owner = owners.setdefault(name, ancestor)
                if owner == ancestor:
                    continue
                if owner == key:
                    raise SchemaError(
                        me.path,
                        me.methods[name].lineno,
                        f"{key[1]}.{name}: name clash: {name} is declared by "
                        f"{_show(ancestor, key)}, which {key[1]} extends (methods are not "
                        "redeclared)",
                    )
                raise SchemaError(
                    me.path,
                    me.node.lineno,
                    f"{key[1]}: name clash: method {name} comes from both "
                    f"{_show(owner, key)} and {_show(ancestor, key)}",
                )
        verified.add(key)

    for key in declared:
        verify(key)


def bases_first(names: list[str], bases: Mapping[str, list[str]]) -> list[str]:
    """``names`` (one module's interfaces, in source order) with every local base moved
    before the interfaces extending it, as class statements need. Cycles are left for
    ``check`` to report."""
    out: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str) -> None:
        if state.get(name):
            return
        state[name] = 1
        for base in bases.get(name, []):
            if base in bases:
                visit(base)
        state[name] = 2
        out.append(name)

    for name in names:
        visit(name)
    return out
