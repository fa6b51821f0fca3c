"""Issue 12 item 4: diagnostics a new user reads. Log lines are named once (the logger is
"pbtyped"; messages do not repeat it), a Connection's repr says which line it is, and a
client without TLS facing a TLS server (or the reverse) is told the likely cause."""

from __future__ import annotations

import ast
import asyncio
import logging
from pathlib import Path

import pytest

import pbtyped as pb
from pbtyped.runtime.options import Options

from .conftest import eventually

PACKAGE = Path(pb.__file__).parent
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "log"}


class Echoer(pb.Root):
    def remote_echo(self, value: object) -> object:
        return value


def test_a_usual_format_names_pbtyped_once(run, caplog: pytest.LogCaptureFixture) -> None:
    """With ``%(name)s: %(message)s`` a line reads ``pbtyped: closing connection ...``, not
    ``pbtyped: pbtyped: closing connection ...``."""

    async def body() -> None:
        async with pb.serve(Echoer()) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n")
            async with asyncio.timeout(5):
                await reader.read()
            writer.close()
            await eventually(lambda: not server.connections)

    with caplog.at_level(logging.WARNING, logger="pbtyped"):
        run(body)
    formatter = logging.Formatter("%(name)s: %(message)s")
    lines = [formatter.format(record) for record in caplog.records]
    assert len(lines) == 1, lines
    assert lines[0].startswith("pbtyped: closing connection from ('127.0.0.1', "), lines


def _log_messages(tree: ast.AST) -> list[tuple[int, str]]:
    """The literal messages (their first part, for a concatenation) of logging calls."""
    found = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in LOG_METHODS
            and node.args
        ):
            continue
        # log.log(level, message, ...) and LogLimiter.log(level, message, ...)
        message = node.args[1] if node.func.attr == "log" and len(node.args) > 1 else node.args[0]
        while isinstance(message, ast.BinOp):
            message = message.left
        if isinstance(message, ast.JoinedStr) and message.values:
            message = message.values[0]
        if isinstance(message, ast.Constant) and isinstance(message.value, str):
            found.append((node.lineno, message.value))
    return found


def test_no_log_message_starts_with_the_logger_name() -> None:
    """Every logging call in pbtyped/ leaves the name to the logger: ``%(name)s`` already
    says pbtyped."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for line, message in _log_messages(ast.parse(path.read_text(), str(path))):
            if message.lower().startswith("pbtyped"):
                offenders.append(f"{path.relative_to(PACKAGE)}:{line}: {message[:40]!r}")
    assert offenders == []
    assert _log_messages(ast.parse('log.log(1, "x %s", 2); log.warning(f"y{z}")')) == [
        (1, "x %s"),
        (1, "y"),
    ]


def test_a_connection_repr_says_its_side_peer_and_state(run) -> None:
    """``repr(connection)`` names the side, the peer's address and where the line is."""

    async def body() -> None:
        async with pb.serve(Echoer()) as server:
            async with pb.connect("127.0.0.1", server.port) as client:
                await client.root()
                mine = client.connection
                (theirs,) = server.connections
                assert (
                    repr(mine)
                    == f"<pbtyped.Connection client side to 127.0.0.1:{server.port}, open>"
                )
                port = theirs.peer[1]
                assert (
                    repr(theirs) == f"<pbtyped.Connection server side from 127.0.0.1:{port}, open>"
                )
                mine.close()
                assert repr(mine).endswith(", closing>")
                await mine.wait_closed()
                assert (
                    repr(mine)
                    == f"<pbtyped.Connection client side to 127.0.0.1:{server.port}, closed>"
                )
        fresh = pb.Connection(Options())
        assert (
            repr(fresh) == "<pbtyped.Connection client side to an unknown address, not connected>"
        )
        fresh.peer = ("::1", 8000, 0, 0)
        assert repr(fresh) == "<pbtyped.Connection client side to [::1]:8000, not connected>"

    run(body)
