"""Exceptions as bounded text: their message and their traceback, for sending to a peer.

What is sent costs at most what can be sent: the message is built from the exception's
arguments within its budget (a 4 MiB value a peer sent, kept in a ``KeyError``, is not turned
into 4 MiB of text to keep 16 KiB of it), and the traceback is formatted from the innermost
frame outwards until its budget is spent: the outer frames of a deep stack are only counted,
never formatted, and no source line is read for a frame that is not sent. Local values are
never read.
"""

from __future__ import annotations

import collections
import linecache
from types import TracebackType
from typing import Any

__all__ = ["MAX_MESSAGE", "MAX_TRACEBACK", "exception_message", "format_traceback"]

#: Characters of an exception's message sent to a peer.
MAX_MESSAGE = 16 * 1024
#: Characters of a traceback sent to a peer (only when the server opted in).
MAX_TRACEBACK = 64 * 1024
#: One line of a traceback (a file name, a function name, a line of source), in characters.
_MAX_LINE = 300
#: Containers nest at most this deep in a message before the rest shows as "...".
_MAX_NESTING = 8
#: Integers wider than this are shown by their size: int -> str is quadratic in digits.
_MAX_INT_BITS = 4096
#: Sub-exceptions of an ExceptionGroup listed (the traceback module's default width).
_MAX_GROUP = 15
#: The shortest a formatted frame can be ('  File "", line 1, in \n'): no more frames than
#: the budget divided by this can ever be sent, so no more are kept while walking to them.
_MIN_FRAME = 23
#: Room kept for the markers that say what was left out.
_RESERVE = 200
#: Identical consecutive frames shown before the rest of the run is only counted.
_REPEATS = 3

_HEADER = "Traceback (most recent call last):\n"
_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"
_PLAIN_STR = (BaseException.__str__, KeyError.__str__)


def exception_message(exc: BaseException, limit: int = MAX_MESSAGE + 1) -> str:
    """``str(exc)``, at most ``limit`` characters, built within that budget when the class
    keeps the default ``__str__`` (its arguments are shown as ``str``/``repr`` would)."""
    method = type(exc).__str__
    try:
        if method in _PLAIN_STR:
            args = exc.args
            if not args:
                return ""
            if len(args) == 1 and method is BaseException.__str__:
                arg = args[0]
                return arg[:limit] if type(arg) is str else _Text(limit).str(arg).text()
            return _Text(limit).repr(args[0] if len(args) == 1 else args, 0).text()
        text = str(exc)  # the application's own __str__: its cost is its own
    except Exception:  # a broken __str__ must not lose the answer
        return f"<{type(exc).__qualname__}: str() failed>"
    return text[:limit]


def format_traceback(
    exc: BaseException, limit: int = MAX_TRACEBACK, message: str | None = None
) -> str:
    """The traceback text of ``exc`` and its chained exceptions, as the ``traceback`` module
    prints it (without the ``^^^`` markers), at most ``limit`` characters. The innermost
    frames and the exception line are kept; what does not fit is counted, not formatted.
    ``message`` is ``exc``'s message if already known."""
    out = _Backwards(limit - min(_RESERVE, limit // 2))
    if message is None:
        message = exception_message(exc)
    seen = {id(exc)}
    current = exc
    while True:
        complete = _add_exception(out, current, message)
        message = None  # known for exc only
        previous, link = _chained(current)
        if previous is None or id(previous) in seen:
            break
        if not complete or not out.add(link):
            out.force("[... earlier chained exceptions not shown ...]\n")
            break
        seen.add(id(previous))
        current = previous
    text = out.text()
    return text if len(text) <= limit else text[-limit:]  # a limit below the markers' reserve


class _Backwards:
    """Text written from its end towards its start, within a budget of characters."""

    __slots__ = ("parts", "room")

    def __init__(self, room: int) -> None:
        self.parts: list[str] = []
        self.room = room

    def add(self, part: str) -> bool:
        """Put ``part`` before what is written; False (and nothing written) if it won't fit."""
        if len(part) > self.room:
            return False
        self.parts.append(part)
        self.room -= len(part)
        return True

    def force(self, part: str) -> None:
        """Put a short marker before what is written (the reserve pays for it)."""
        self.parts.append(part)
        self.room -= len(part)

    def text(self) -> str:
        return "".join(reversed(self.parts))


def _add_exception(out: _Backwards, exc: BaseException, message: str | None) -> bool:
    """Write one exception's block; False once the budget is spent."""
    lines = _exception_lines(exc, exception_message(exc) if message is None else message)
    if not out.add(lines):
        if message is None:  # a chained exception: say it was left out
            out.force("[... earlier chained exceptions not shown ...]\n")
            return False
        out.force(lines[: max(out.room, 0)] + "...\n")  # the exception sent: never left out
    tb = exc.__traceback__
    if tb is None:
        return True
    frames, total = _innermost(tb, max(out.room, 0) // _MIN_FRAME + 1)
    shown = _add_frames(out, frames)
    if shown < total:
        out.force(f"  [... {total - shown} outer frames not shown ...]\n")
    out.force(_HEADER)
    return shown == total


def _innermost(tb: TracebackType, keep: int) -> tuple[collections.deque[TracebackType], int]:
    """The ``keep`` innermost entries of ``tb`` and how many there are in all.

    The chain runs from the outermost frame in, so reaching the innermost means walking it
    all; the walk only follows pointers, and keeps no more entries than could be sent.
    """
    frames: collections.deque[TracebackType] = collections.deque(maxlen=keep)
    total = 0
    entry: TracebackType | None = tb
    while entry is not None:
        frames.append(entry)
        total += 1
        entry = entry.tb_next
    return frames, total


def _add_frames(out: _Backwards, frames: collections.deque[TracebackType]) -> int:
    """Format frames innermost first while they fit; how many were shown or counted.

    Of identical consecutive frames (plain recursion) the first few are shown, the rest of
    the run counted, as the traceback module does.
    """
    done = run = 0
    last: tuple[str, int | None, str] | None = None
    while frames:
        entry = frames.pop()
        code = entry.tb_frame.f_code
        key = (code.co_filename, entry.tb_lineno, code.co_name)
        if key != last:
            _end_run(out, run)
            last, run = key, 0
        run += 1
        if run <= _REPEATS and not out.add(_frame_lines(*key)):
            return done
        done += 1
    _end_run(out, run)
    return done


def _end_run(out: _Backwards, run: int) -> None:
    if run > _REPEATS:
        out.force(f"  [The frame below repeated {run - _REPEATS} more times]\n")


def _frame_lines(filename: str, lineno: int | None, name: str) -> str:
    # linecache reads (once, then caches) only the files of frames that are sent.
    line = linecache.getline(filename, lineno).strip() if lineno else ""
    text = f'  File "{filename[:_MAX_LINE]}", line {lineno}, in {name[:_MAX_LINE]}\n'
    return f"{text}    {line[:_MAX_LINE]}\n" if line else text


def _exception_lines(exc: BaseException, message: str) -> str:
    cls = type(exc)
    name = cls.__qualname__
    if cls.__module__ not in ("builtins", "__main__"):
        name = f"{cls.__module__}.{name}"
    text = f"{name[:_MAX_LINE]}: {message}\n" if message else f"{name[:_MAX_LINE]}\n"
    notes = getattr(exc, "__notes__", None)
    if type(notes) is list:
        text += "".join(f"{note[:_MAX_LINE]}\n" for note in notes[:10] if type(note) is str)
    if isinstance(exc, BaseExceptionGroup):
        text += _group_lines(exc)
    return text


def _group_lines(group: BaseExceptionGroup[BaseException]) -> str:
    """One line per sub-exception (their own tracebacks are not sent)."""
    subs = group.exceptions
    lines = [
        f"  [{i} of {len(subs)}] {type(sub).__qualname__}: {exception_message(sub, _MAX_LINE)}\n"
        for i, sub in enumerate(subs[:_MAX_GROUP], 1)
    ]
    if len(subs) > _MAX_GROUP:
        lines.append(f"  [... {len(subs) - _MAX_GROUP} more sub-exceptions]\n")
    return "".join(lines)


def _chained(exc: BaseException) -> tuple[BaseException | None, str]:
    """The exception printed before ``exc``, and the line that links them."""
    if exc.__cause__ is not None:
        return exc.__cause__, _CAUSE
    if exc.__context__ is not None and not exc.__suppress_context__:
        return exc.__context__, _CONTEXT
    return None, ""


class _Text:
    """``str``/``repr`` of builtin values, written within a budget of characters: a value of
    any size costs what is shown. Other objects use their own ``repr``, cut."""

    __slots__ = ("parts", "room")

    def __init__(self, room: int) -> None:
        self.parts: list[str] = []
        self.room = room

    def text(self) -> str:
        return "".join(self.parts)

    def add(self, part: str) -> _Text:
        part = part[: self.room]
        self.parts.append(part)
        self.room -= len(part)
        return self

    def str(self, value: Any) -> _Text:
        """``str(value)``: the ``repr`` of builtin containers and numbers, else its own."""
        kind = type(value)
        if kind in _BRACKETS or kind is int or kind is bytes:
            return self.repr(value, 0)
        return self.add(value if isinstance(value, str) else str(value))  # add() cuts it

    def repr(self, value: Any, depth: int) -> _Text:
        if self.room <= 0:
            return self
        kind = type(value)
        if kind is str or kind is bytes:
            return self.add(repr(value[: self.room]))
        if kind is int:
            bits = value.bit_length()
            return self.add(repr(value) if bits <= _MAX_INT_BITS else f"<int of {bits} bits>")
        if kind in _BRACKETS:
            if depth >= _MAX_NESTING:
                return self.add("...")
            return self._items(value, kind, depth + 1)
        return self.add(repr(value))  # an object the application made: its own repr

    def _items(self, value: Any, kind: type, depth: int) -> _Text:
        if not value:
            return self.add(_EMPTY[kind])
        opening, closing = _BRACKETS[kind]
        self.add(opening)
        items = value.items() if kind is dict else value
        for i, item in enumerate(items):
            if self.room <= 0:
                break
            if i:
                self.add(", ")
            if kind is dict:
                self.repr(item[0], depth).add(": ").repr(item[1], depth)
            else:
                self.repr(item, depth)
        return self.add("," + closing if kind is tuple and len(value) == 1 else closing)


_BRACKETS: dict[type, tuple[str, str]] = {
    list: ("[", "]"),
    tuple: ("(", ")"),
    dict: ("{", "}"),
    set: ("{", "}"),
    frozenset: ("frozenset({", "})"),
}
_EMPTY: dict[type, str] = {
    list: "[]",
    tuple: "()",
    dict: "{}",
    set: "set()",
    frozenset: "frozenset()",
}
