"""A griffe extension for the API reference: ``#:`` comments document the attribute below them.

pbtyped documents fields and class attributes with ``#:`` comment lines above them (as Sphinx
reads them), which griffe ignores; without this, ``pb.Limits`` would show its fields with no
word about them. mkdocs.yml loads it into mkdocstrings.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import griffe

__all__ = ["CommentDocstrings", "comment_above"]


def comment_above(lines: list[str], lineno: int) -> str | None:
    """The text of the ``#:`` lines right above line ``lineno`` (counted from 1), or None."""
    comment: list[str] = []
    row = lineno - 2
    while row >= 0 and lines[row].strip().startswith("#:"):
        comment.insert(0, lines[row].strip().removeprefix("#:").strip())
        row -= 1
    return " ".join(comment) or None


class CommentDocstrings(griffe.Extension):
    """Gives each attribute that has no docstring the ``#:`` comment above it, if any."""

    def on_attribute_instance(
        self, *, node: ast.AST | griffe.ObjectNode, attr: griffe.Attribute, **kwargs: Any
    ) -> None:
        if attr.docstring is not None or attr.lineno is None:
            return
        filepath = attr.filepath
        if not isinstance(filepath, Path) or filepath not in attr.lines_collection:
            return
        text = comment_above(attr.lines_collection[filepath], attr.lineno)
        if text is not None:
            attr.docstring = griffe.Docstring(text, lineno=attr.lineno, parent=attr)
