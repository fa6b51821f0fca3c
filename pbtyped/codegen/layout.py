"""Line fitting that matches ``ruff format``, so generated code needs no formatter.

A construct goes on one line when it fits in 88 columns (ruff's default width, stricter than
this repo's 100, so the output is stable under either). Otherwise it is exploded one item per
line with a trailing comma, which ruff keeps as it is (the "magic trailing comma").
"""

from __future__ import annotations

__all__ = ["LINE", "call", "fit_def", "literal_dict", "literal_tuple"]

LINE = 88


def call(head: str, items: list[str], indent: int, *, prefix: int = 0, suffix: int = 1) -> str:
    """``head(items)`` placed at ``indent``; ``prefix``/``suffix`` count text around it.

    Items that span lines must already be laid out for ``indent + 4``.
    """
    one = f"{head}({', '.join(items)})"
    if "\n" not in one and indent + prefix + len(one) + suffix <= LINE:
        return one
    inner = " " * (indent + 4)
    lines = "".join(f"{inner}{item},\n" for item in items)
    return f"{head}(\n{lines}{' ' * indent})"


def fit_def(head: str, params: list[str], returns: str, indent: int) -> str:
    """A ``def`` line (``head`` holds ``def name``) with its parameters and return type."""
    one = f"{head}({', '.join(params)}) -> {returns}:"
    if indent + len(one) <= LINE:
        return one
    inner = " " * (indent + 4)
    lines = "".join(f"{inner}{p},\n" for p in params)
    return f"{head}(\n{lines}{' ' * indent}) -> {returns}:"


def literal_tuple(names: list[str]) -> str:
    """A tuple display of the given names."""
    if len(names) == 1:
        return f"({names[0]},)"
    return f"({', '.join(names)})"


def literal_dict(names: list[str]) -> str:
    """A dict display mapping each name (as a string) to the variable of that name."""
    return "{" + ", ".join(f'"{n}": {n}' for n in names) + "}"
