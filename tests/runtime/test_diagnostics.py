"""Issue 12 item 4: diagnostics a new user reads. Log lines are named once (the logger is
"pbtyped"; messages do not repeat it), a Connection's repr says which line it is, and a
client without TLS facing a TLS server (or the reverse) is told the likely cause."""

from __future__ import annotations

import ast
import asyncio
import logging
import ssl
from pathlib import Path

import pytest

import pbtyped as pb
from pbtyped.cred import client_context, server_context
from pbtyped.cred.devcerts import DevCertificates, write_dev_certificates
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


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> DevCertificates:
    return write_dev_certificates(tmp_path_factory.mktemp("certs"))


def test_a_plain_client_of_a_tls_server_is_told_to_pass_ssl(
    run, certs: DevCertificates, caplog: pytest.LogCaptureFixture
) -> None:
    """A TLS server drops a plaintext Hello without a byte: the client's error names the
    likely cause instead of a bare "connection closed", and the server logs it, within its
    own budget of lines (``Limits.log_rate_per_minute``)."""

    async def body() -> None:
        tls = server_context(certs.server_cert, certs.server_key)
        limits = pb.Limits(log_rate_per_minute=2)
        async with pb.serve(Echoer(), ssl=tls, limits=limits) as server:
            for _ in range(3):
                with pytest.raises(pb.ConnectionLost) as caught:
                    async with pb.connect("127.0.0.1", server.port) as client:
                        await client.root()
            # The same server still serves a TLS client.
            async with pb.connect("localhost", server.port, ssl=client_context(certs.ca)) as ok:
                assert await (await ok.root()).call_remote("echo", 1) == 1
        assert str(caught.value) == (
            "connection closed before the handshake, with nothing received: is the server "
            "using TLS? If so, pass ssl=pbtyped.cred.client_context(...) to connect()"
        )

    with caplog.at_level(logging.WARNING, logger="pbtyped"):
        run(body)
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 2, logged  # three plaintext clients; the budget is two a minute
    for line in logged:
        assert line.startswith("a client spoke without TLS to this TLS server ("), line
        assert line.endswith("): it must pass ssl=pbtyped.cred.client_context(...) to connect()")


def test_a_tls_server_leaves_a_context_of_the_users_own_alone(certs: DevCertificates) -> None:
    class Mine(ssl.SSLObject):
        pass

    async def body() -> None:
        tls = server_context(certs.server_cert, certs.server_key)
        tls.sslobject_class = Mine
        async with pb.serve(Echoer(), ssl=tls):
            assert tls.sslobject_class is Mine

    asyncio.run(body())


def test_a_tls_client_of_a_plain_server_is_told_to_drop_ssl(
    run, certs: DevCertificates, caplog: pytest.LogCaptureFixture
) -> None:
    """A TLS client of a server without TLS gets ConnectionLost saying so from connect()
    (not the bare ssl.SSLError), and the server tells from the first bytes (a TLS handshake
    record) and says so in the line it logs."""

    async def body() -> None:
        async with pb.serve(Echoer()) as server:
            # The client's TLS layer refuses our Hello; connect() says what to change.
            with pytest.raises(pb.ConnectionLost) as caught:
                async with pb.connect("localhost", server.port, ssl=client_context(certs.ca)):
                    pass
            await eventually(lambda: not server.connections)
        message = str(caught.value)
        assert message.startswith("the TLS handshake failed ("), message
        assert message.endswith(
            "): the server does not speak TLS; drop ssl= from connect(), or start the server "
            "with ssl=pbtyped.cred.server_context(...)"
        ), message
        assert isinstance(caught.value.__cause__, ssl.SSLError)

    with caplog.at_level(logging.WARNING, logger="pbtyped"):
        run(body)
    (record,) = caplog.records
    assert record.getMessage().endswith(
        "; the client sent a TLS record instead of its Hello: it uses TLS, and this server "
        "was started without ssl= (see pbtyped.cred.server_context)"
    )


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        # A TLS alert (7 bytes: less than a frame header's 8) and a TLS handshake record.
        (b"\x15\x03\x03\x00\x02\x02\x46", "connection closed before the handshake: the server "),
        (b"\x16\x03\x03\x00\x40" + bytes(64), "connection closed: peer announced a first frame"),
    ],
    ids=["alert", "handshake"],
)
def test_a_plain_client_that_receives_tls_is_told_so(run, reply: bytes, expected: str) -> None:
    """Whatever the server's TLS sends before closing, the client names TLS as the cause."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(8)  # the client's Hello begins
        writer.write(reply)
        writer.close()

    async def body() -> None:
        tls_like = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = tls_like.sockets[0].getsockname()[1]
        async with tls_like:
            with pytest.raises(pb.ConnectionLost) as caught:
                async with pb.connect("127.0.0.1", port) as client:
                    await client.root()
        message = str(caught.value)
        assert message.startswith(expected), message
        assert message.endswith(
            "the server answered in TLS; pass ssl=pbtyped.cred.client_context(...) to connect()"
        ), message

    run(body)
