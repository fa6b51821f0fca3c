"""Docstrings from schemas reach the generated code whole, whatever their text."""

from __future__ import annotations

import ast
import inspect
import subprocess
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pbtyped.codegen.layout import LINE, docstring

from .conftest import HERE, tool

TRICKY = [
    'Return "response", or raise',
    '"quoted" at the start',
    'ends with a "quote"',
    'ends with an escaped quote \\"',
    'three """ and five """"" quotes',
    "'''single''' quotes",
    "a \\backslash, \\n, \\x00 and a trailing one \\",
    "\\",
    '"',
    '""',
    '"""',
    "non-ASCII: na\u00efve \u2013 \u201csmart\u201d \u00d7 \U0001f600",
    "control: \x00 \x1b \x0c \u2028 \ufeff \r",
    "word " * 40,
    "first paragraph\n\n    indented " + "code " * 30 + "\n\nlast line",
    "x" * 120,
    "https://example.com/" + "a" * 100 + " after the address",
]


def _value(literal: str, indent: int) -> str:
    """The cleaned docstring of a function whose docstring is ``literal`` at ``indent``."""
    source = "def f():\n" + " " * indent + literal + "\n"
    fn = ast.parse(source).body[0]
    assert isinstance(fn, ast.FunctionDef)
    return ast.get_docstring(fn, clean=True) or ""


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip().split("\n")]


@pytest.mark.parametrize("text", TRICKY)
@pytest.mark.parametrize("indent", [4, 8])
def test_tricky_text_survives(text: str, indent: int) -> None:
    literal = docstring(text, indent)
    assert literal.isascii()
    value = _value(literal, indent)
    assert value.split() == text.split()
    if all(len(ascii(line)) < LINE - indent - 6 for line in text.split("\n")):
        assert _lines(value) == _lines(text)  # short lines are not even rewrapped
    if max(map(len, text.split())) < 40:  # a longer word cannot be wrapped
        placed = (" " * indent + literal).split("\n")
        assert max(map(len, placed)) <= LINE, placed


@pytest.mark.parametrize("over", [0, 1, 2, 3])
def test_a_one_line_docstring_fits_with_both_quotes(over: int) -> None:
    # Such as the fallback of a skeleton method with a long name: ``"""Implement ...."""``.
    text = "Implement ``a_method_name``: return the result or an awaitable of it."
    text += "x" * (LINE - 8 - 6 - len(text) + over)
    literal = docstring(text, 8)
    assert max(len(line) for line in (" " * 8 + literal).split("\n")) <= LINE
    assert _value(literal, 8).split() == text.split()


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=300))
def test_any_text_survives(text: str) -> None:
    text = inspect.cleandoc(text)  # what the parser hands over (ast.get_docstring cleans)
    if not text.strip():
        return
    literal = docstring(text, 8)
    assert literal.isascii()
    assert _value(literal, 8).split() == text.split()


#: The longest line that can never need wrapping: every character escapes to at most 4
#: (``\\xe9``) and a line of a docstring at indent 4 has 81 columns.
_SHORT = 81 // 4


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(st.sampled_from(list(" \\\"'ab\u00e9\t")), max_size=_SHORT), max_size=10))
def test_short_lines_keep_their_text(lines: list[str]) -> None:
    text = inspect.cleandoc("\n".join(lines))
    # cleandoc turns a tab into up to 8 spaces: a line that grew past _SHORT may be wrapped,
    # which is right, and is not what this test is about.
    assume(all(len(line) <= _SHORT for line in text.split("\n")))
    if not text.strip():
        return
    assert _lines(_value(docstring(text, 4), 4)) == _lines(text)


def test_tricky_docstrings_pass_ruff(tmp_path: Path) -> None:
    ruff = tool("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    parts = ['"""Tricky docstrings."""\n']
    for i, text in enumerate(TRICKY):
        parts.append(
            f"\n\nclass C{i}:\n    {docstring(text, 4)}\n\n"
            f"    def f(self) -> None:\n        {docstring(text, 8)}\n"
        )
    (tmp_path / "tricky.py").write_text("".join(parts), encoding="utf-8")
    for width in ("88", "100"):
        for command in (
            ["format", "--check", "--diff"],
            ["check", "--select", "E,F,W,I,B,UP,RUF,ASYNC,PT", "--target-version", "py311"],
        ):
            done = subprocess.run(
                [ruff, *command, "--isolated", "--line-length", width, "tricky.py"],
                cwd=tmp_path, capture_output=True, text=True,
            )  # fmt: skip
            assert done.returncode == 0, done.stdout + done.stderr


def test_schema_docstrings_reach_the_generated_classes(agen: Path) -> None:
    from agen import alltypes

    schema = ast.parse((HERE / "alltypes" / "alltypes.py").read_text("utf-8"))
    docs = {
        node.name: ast.get_docstring(node, clean=True) or ""
        for node in ast.walk(schema)
        if isinstance(node, ast.ClassDef | ast.FunctionDef)
    }
    quoted = docs["Quoted"]
    assert '"quotes", a \\backslash\\, \'\'\' and """' in quoted  # the schema is tricky enough
    client = inspect.cleandoc(alltypes.QuotedClient.__doc__ or "")
    assert client.startswith(quoted.split("\n")[0][:40])
    assert client.split()[: len(quoted.split())] == quoted.split()
    assert "\n    path = \"C:\\new\\table\" + '\\n'\n" in client  # indentation and escapes kept
    assert inspect.cleandoc(alltypes.QuotedClient.said.__doc__ or "") == docs["said"]
    assert inspect.cleandoc(alltypes.QuotedServer.remote_said.__doc__ or "") == docs["said"]
    assert inspect.cleandoc(alltypes.TooBig.__doc__ or "") == docs["TooBig"]
    assert docs["TooBig"].endswith('"')
