"""Line fitting and ordering that match ``ruff format`` and ``ruff check``, so generated code
needs no formatter and passes the linter.

A construct goes on one line when it fits in 88 columns (ruff's default width, stricter than
this repo's 100, so the output is stable under either). Otherwise it is exploded one item per
line with a trailing comma, which ruff keeps as it is (the "magic trailing comma"). One
exception: a type too long for its line even after its ``def`` is exploded is split as ruff
does at 88 columns (a subscript inside its brackets, a union at its ``|``, in parentheses for
a result); nothing pins those forms, so a wider ``ruff format`` could join them again.
"""

from __future__ import annotations

import re
import textwrap

__all__ = [
    "LINE",
    "all_key",
    "call",
    "docstring",
    "fit_annotation",
    "fit_def",
    "literal_dict",
    "literal_tuple",
    "member_key",
    "module_key",
    "safe_text",
]

LINE = 88
# How far a type is indented at most to split it: one nested deeper stays on one line (long,
# and never seen in a real schema), so that a hostile schema's output stays linear in its size
# (each line of a split type costs its indentation; 100 levels of nesting would cost 400).
_SPLIT_INDENT = 40

# Runs of three quotes would end the literal.
_QUOTES = re.compile(r'"{3,}')
# A quote at either end would make ruff add a space there (one not already escaped, at the end).
_FIRST_QUOTE = re.compile(r'^"')
_LAST_QUOTE = re.compile(r'(?<!\\)((?:\\\\)*)"$')
_DIGITS = re.compile(r"(\d+)")
# What a name taken from the file system may show as is in a comment or docstring: nothing that
# ends a line or a literal (newlines, quotes, backslashes), and no ``:``, ``=``, ``#`` or ``*``, so
# no coding declaration (PEP 263: ``coding:utf-7`` on line 1 would let ``+AAo-`` decode to a
# newline), tool pragma (``type:``, ``fmt:``, ``noqa``) or editor mode line (``vim:``, ``-*-``).
_SAFE = re.compile(r"[A-Za-z0-9_. +-]")
# A keyword argument's ``name=``.
_KEYWORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=(?!=)")


def call(head: str, items: list[str], indent: int, *, prefix: int = 0, suffix: int = 1) -> str:
    """``head(items)`` placed at ``indent``; ``prefix``/``suffix`` count text around it.

    Items that span lines must already be laid out for ``indent + 4``.
    """
    one = f"{head}({', '.join(items)})"
    if "\n" not in one and indent + prefix + len(one) + suffix <= LINE:
        return one
    lines = "".join(line + "\n" for item in items for line in _item_lines(item, indent + 4))
    return f"{head}(\n{lines}{' ' * indent})"


def _item_lines(item: str, indent: int) -> list[str]:
    """An argument of an exploded call: a type in it (``returns=list[int]``) too long for its
    line is split as in a ``def``."""
    if "\n" in item:  # laid out already
        return [f"{' ' * indent}{item},"]
    keyword = _KEYWORD.match(item)
    first = keyword[0] if keyword else ""
    return _type_lines(item[len(first) :], indent, first, ",")


def fit_def(head: str, params: list[str], returns: str, indent: int) -> str:
    """A ``def`` line (``head`` holds ``def name``) with its parameters and return type."""
    one = f"{head}({', '.join(params)}) -> {returns}:"
    if indent + len(one) <= LINE:
        return one
    pad = " " * indent
    lines = "".join(line + "\n" for p in params for line in _param_lines(p, indent + 4))
    if indent + len(f") -> {returns}:") <= LINE or _subscript(returns) is not None:
        # A subscript too long for its line is split inside its brackets.
        ending = "\n".join(_type_lines(returns, indent, ") -> ", ":"))
        return f"{head}(\n{lines}{ending}"
    # A union too long for its line goes in parentheses, split at its ``|`` if it must be.
    wrapped = "".join(line + "\n" for line in _type_lines(returns, indent + 4, "", ""))
    return f"{head}(\n{lines}{pad}) -> (\n{wrapped}{pad}):"


def fit_annotation(head: str, annotation: str, tail: str, indent: int) -> str:
    """``head``, the type ``annotation`` and ``tail`` (a dataclass field's ``name: type =
    default``) placed at ``indent``, the type split as ruff splits it if the line is too long."""
    return "\n".join(_type_lines(annotation, indent, head, tail))[indent:]


def _param_lines(param: str, indent: int) -> list[str]:
    """A parameter of an exploded ``def`` (``name: type = default``) as ruff lays it out."""
    name, colon, rest = param.partition(": ")
    if not colon:
        return [f"{' ' * indent}{param},"]
    annotation, *default = _split_top(rest, " = ")
    suffix = "".join(f" = {d}" for d in default) + ","
    return _type_lines(annotation, indent, f"{name}: ", suffix)


def _type_lines(text: str, indent: int, first: str, suffix: str) -> list[str]:
    """The type expression ``text`` as ruff format writes it at ``indent``, after ``first``
    and before ``suffix``: on one line if it fits; else a subscript is split inside its
    brackets (its items on one line if they fit there, else one per line with a trailing
    comma when there are several), and a union at each top-level ``|``, each part in turn."""
    pad = " " * indent
    if indent + len(first) + len(text) + len(suffix) <= LINE or indent > _SPLIT_INDENT:
        return [f"{pad}{first}{text}{suffix}"]
    subscript = _subscript(text)
    if subscript is not None:
        name, items = subscript
        inside = ", ".join(items)
        if len(items) == 1 or indent + 4 + len(inside) <= LINE:
            body = _type_lines(inside, indent + 4, "", "")
        else:
            body = [line for item in items for line in _type_lines(item, indent + 4, "", ",")]
        return [f"{pad}{first}{name}[", *body, f"{pad}]{suffix}"]
    parts = _split_top(text, " | ")
    if len(parts) == 1:  # a name: nowhere to split it
        return [f"{pad}{first}{text}{suffix}"]
    lines = _type_lines(parts[0], indent, first, "")
    for part in parts[1:]:
        lines += _type_lines(part, indent, "| ", "")
    lines[-1] += suffix
    return lines


def _subscript(text: str) -> tuple[str, list[str]] | None:
    """``name[a, b]`` as ``("name", ["a", "b"])``; None for any other expression."""
    # A type is a union, a subscript or a name; a subscript's name holds no bracket.
    if not text.endswith("]") or len(_split_top(text, " | ")) > 1:
        return None
    opening = text.index("[")
    return text[:opening], _split_top(text[opening + 1 : -1], ", ")


def _split_top(text: str, separator: str) -> list[str]:
    """``text`` split at each ``separator`` outside brackets, parentheses and string literals
    (a ``Literal`` value may hold any of them)."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch in "\"'":
            i = _string_end(text, i)
            continue
        depth += ch in "[("
        depth -= ch in "])"
        if depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            i = start = i + len(separator)
            continue
        i += 1
    return [*parts, text[start:]]


def _string_end(text: str, i: int) -> int:
    """The index just past the string literal whose quote is at ``i``."""
    quote, i = text[i], i + 1
    while i < len(text) and text[i] != quote:
        i += 2 if text[i] == "\\" else 1
    return i + 1


def literal_tuple(names: list[str]) -> str:
    """A tuple display of the given names."""
    if len(names) == 1:
        return f"({names[0]},)"
    return f"({', '.join(names)})"


def literal_dict(names: list[str]) -> str:
    """A dict display mapping each name (as a string) to the variable of that name."""
    return "{" + ", ".join(f'"{n}": {n}' for n in names) + "}"


def _escape_char(ch: str) -> str:
    if ch == "\\":
        return "\\\\"
    if " " <= ch <= "~":
        return ch
    # Everything else is escaped, so no control, invisible or confusable character (ruff's
    # RUF001-RUF003) reaches the generated source; the docstring's value is unchanged.
    return _hex_escape(ch)


def safe_text(text: str) -> str:
    """``text`` (a name taken from the file system) as text that is safe anywhere in generated
    code's comments and docstrings: every character but ASCII letters, digits and ``_. +-`` is
    written as a ``\\xNN``/``\\uNNNN`` escape (``\\`` too), so the result is one line of plain
    ASCII that cannot end a comment or a literal nor be read as a directive.
    """
    return "".join(ch if _SAFE.fullmatch(ch) else _hex_escape(ch) for ch in text)


def _hex_escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _escape(line: str) -> str:
    text = "".join(_escape_char(ch) for ch in line)
    return _QUOTES.sub(lambda m: '\\"' * len(m[0]), text)


def docstring(text: str, indent: int) -> str:
    """A docstring literal for ``text`` (already cleaned, as ``ast.get_docstring`` does),
    written at ``indent`` columns; continuation lines carry the indentation.

    Its value is ``text`` with long lines wrapped at spaces (to fit 88 columns) and trailing
    spaces dropped: backslashes, non-ASCII characters and the quotes that would end the literal
    or make ruff add a space are escaped. A docstring of several lines closes on a line of its
    own (``ruff format`` leaves both forms as they are).
    """
    width = LINE - indent - 3  # room for the opening or the closing quotes
    escaped = [_escape(raw.rstrip()) for raw in text.strip().split("\n")]
    escaped[0] = _FIRST_QUOTE.sub(r'\\"', escaped[0])
    escaped[-1] = _LAST_QUOTE.sub(r'\1\\"', escaped[-1])
    lines = _wrapped(escaped, width)
    if len(lines) == 1 and len(lines[0]) > width - 3:  # a line of its own holds both quotes
        lines = _wrapped(escaped, width - 3)
    pad = " " * indent
    source = "\n".join(f"{pad}{line}" if line and i else line for i, line in enumerate(lines))
    if len(lines) == 1:
        return f'"""{source}"""'
    leads = [len(line) - len(line.lstrip(" ")) for line in lines[1:] if line]
    if leads and min(leads) > 0:
        # Every later line is indented more than the first: only a first line of its own keeps
        # that when the docstring is cleaned (the first line never counts for the margin).
        source = f"\n{pad}{source}"
    return f'"""{source}\n{pad}"""'


def _wrapped(lines: list[str], width: int) -> list[str]:
    """``lines`` with those longer than ``width`` wrapped at spaces, keeping their indentation."""
    out: list[str] = []
    for line in lines:
        if len(line) <= width:
            out.append(line)
            continue
        body = line.lstrip(" ")
        lead = " " * (len(line) - len(body))
        out.extend(
            textwrap.wrap(
                body,
                width,
                initial_indent=lead,
                subsequent_indent=lead,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return out


def _natural(text: str) -> tuple[tuple[int, int], ...]:
    # Natural order (``Item2`` before ``Item10``), comparing characters by code point.
    key: list[tuple[int, int]] = []
    for i, part in enumerate(_DIGITS.split(text)):
        if i % 2:
            key.append((ord("0"), int(part)))
        else:
            key.extend((ord(ch), 0) for ch in part)
    return tuple(key)


def _member_type(name: str) -> int:
    # isort's "order by type": CONSTANTS, then Classes, then variables.
    if len(name) > 1 and name.upper() == name and name.lower() != name:
        return 0
    return 1 if name[:1].isupper() else 2


def member_key(name: str) -> tuple[object, ...]:
    """Where ruff's isort puts ``name`` among the names of one ``from ... import``."""
    return (_member_type(name), _natural(name.lower()), _natural(name))


def module_key(module: str) -> tuple[object, ...]:
    """Where ruff's isort puts ``from .module import ...`` among sibling imports."""
    return (_natural(module.lower()), _natural(module))


def all_key(name: str) -> tuple[object, ...]:
    """Where ruff (RUF022, isort-style) puts ``name`` in ``__all__``."""
    return (_member_type(name), _natural(name))
