"""pbtyped.ProtocolError is raised only as one of its subclasses (its docstring says so): a
plain one cannot tell the caller whether this side or the peer broke the protocol."""

from __future__ import annotations

import ast
from pathlib import Path

import pbtyped

PACKAGE = Path(pbtyped.__file__).parent


def _plain_raises(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name | ast.Attribute) and (
                getattr(exc, "id", None) == "ProtocolError"
                or getattr(exc, "attr", None) == "ProtocolError"
            ):
                lines.append(node.lineno)
    return lines


def test_the_finder_finds_a_plain_raise() -> None:
    code = "def f():\n    raise ProtocolError('x')\n\ndef g():\n    raise pb.ProtocolError\n"
    assert _plain_raises(ast.parse(code)) == [2, 5]
    assert _plain_raises(ast.parse("raise LocalProtocolError('x')\n")) == []


def test_no_plain_protocol_error_is_raised_in_pbtyped() -> None:
    found = {
        str(path.relative_to(PACKAGE)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if (lines := _plain_raises(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert found == {}
