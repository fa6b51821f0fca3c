"""The longest and most branching functions of a tree: where a reader loses their way first.

    python scripts/complexity.py [PATH ...] [--worst 10] [--max-lines 60] [--max-complexity 20]

Prints the ``--worst`` functions by cyclomatic complexity and by length. With ``--enforce``,
exits 1 when any function is longer than ``--max-lines`` or more complex than
``--max-complexity`` (STYLE.md: under ~60 lines and ~20). Complexity is McCabe's, counted on
the syntax tree: 1, plus one per ``if``/``elif``, loop, ``except``, conditional expression,
``case``, comprehension ``for``/``if`` and extra operand of ``and``/``or``. A nested function
is measured on its own and does not add to the function around it.
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

_BRANCHES = (
    ast.If,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.IfExp,
    ast.ExceptHandler,
    ast.match_case,
)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


@dataclass(frozen=True)
class Function:
    """One function's place, length in lines and cyclomatic complexity."""

    where: str
    lines: int
    complexity: int


def complexity(func: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """McCabe's number of ``func``, not counting the functions nested in it."""
    count = 1
    todo: list[ast.AST] = list(ast.iter_child_nodes(func))
    while todo:
        node = todo.pop()
        if isinstance(node, _FUNCTIONS):
            continue
        if isinstance(node, _BRANCHES):
            count += 1
        elif isinstance(node, ast.BoolOp):
            count += len(node.values) - 1
        elif isinstance(node, ast.comprehension):
            count += 1 + len(node.ifs)
        todo.extend(ast.iter_child_nodes(node))
    return count


def functions(path: Path) -> list[Function]:
    """Every function and method defined in the Python file ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            where = f"{path}:{node.lineno} {node.name}"
            found.append(Function(where, lines, complexity(node)))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=["pbtyped"])
    parser.add_argument("--worst", type=int, default=10)
    parser.add_argument("--max-lines", type=int, default=60)
    parser.add_argument("--max-complexity", type=int, default=20)
    parser.add_argument("--enforce", action="store_true", help="exit 1 over the maxima")
    args = parser.parse_args(argv)
    found = [
        func
        for root in args.paths
        for path in sorted(Path(root).rglob("*.py") if Path(root).is_dir() else [Path(root)])
        for func in functions(path)
    ]
    for title, key in (("complexity", "complexity"), ("lines", "lines")):
        print(f"worst {args.worst} by {title}:")
        for func in sorted(found, key=lambda f: (-getattr(f, key), f.where))[: args.worst]:
            print(f"  {func.complexity:4d} cc {func.lines:4d} lines  {func.where}")
    over = [f for f in found if f.lines > args.max_lines or f.complexity > args.max_complexity]
    print(
        f"{len(found)} functions; {len(over)} over {args.max_lines} lines or complexity "
        f"{args.max_complexity}"
    )
    return 1 if args.enforce and over else 0


if __name__ == "__main__":
    sys.exit(main())
