"""The health endpoint: 200 while serving, 503 otherwise, bounded in size, time and clients;
and ``pbtyped health``'s probe."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pbtyped.serving import health
from pbtyped.serving.health import HealthServer, parse_address, probe

from ..support import bounded_run


async def exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    try:
        return await reader.read()
    except ConnectionResetError:  # an excess client is reset
        return b""
    finally:
        writer.close()


def with_server(status: list[str], body: Any) -> Any:
    async def run() -> Any:
        server = HealthServer(lambda: status[0])
        await server.start("127.0.0.1", 0)
        try:
            return await body(server.port)
        finally:
            await server.aclose()

    return bounded_run(run)


def test_status_codes() -> None:
    status = ["starting"]

    async def body(port: int) -> list[bytes]:
        answers = []
        for now in ("starting", "serving", "draining"):
            status[0] = now
            answers.append(await exchange(port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"))
        answers.append(await exchange(port, b"HEAD /health?x=1 HTTP/1.0\r\n\r\n"))
        answers.append(await exchange(port, b"GET / HTTP/1.0\r\n\r\n"))
        answers.append(await exchange(port, b"POST /health HTTP/1.0\r\n\r\n"))
        return answers

    starting, serving, draining, head, root, post = with_server(status, body)
    assert starting.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert starting.endswith(b"\r\n\r\nstarting\n")
    assert serving.startswith(b"HTTP/1.1 200 OK\r\n")
    assert serving.endswith(b"\r\n\r\nserving\n")
    assert b"Content-Length: 8\r\n" in serving
    assert draining.startswith(b"HTTP/1.1 503")
    assert draining.endswith(b"\r\n\r\ndraining\n")
    assert head.startswith(b"HTTP/1.1 503")
    assert head.endswith(b"\r\n\r\n")
    assert root.startswith(b"HTTP/1.1 404")
    assert post.startswith(b"HTTP/1.1 405")


def test_a_request_over_the_size_limit_is_refused() -> None:
    async def body(port: int) -> bytes:
        return await exchange(port, b"GET /health HTTP/1.1\r\nX: " + b"a" * 10_000)

    assert with_server(["serving"], body).startswith(b"HTTP/1.1 400")


def test_a_silent_or_excess_client_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "REQUEST_TIMEOUT", 0.2)
    monkeypatch.setattr(health, "MAX_CLIENTS", 2)

    async def body(port: int) -> list[bytes]:
        silent = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        await asyncio.sleep(0.05)
        excess = await exchange(port, b"GET /health HTTP/1.0\r\n\r\n")
        closed = [await asyncio.wait_for(reader.read(), 5) for reader, _ in silent]
        for _, writer in silent:
            writer.close()
        after = await exchange(port, b"GET /health HTTP/1.0\r\n\r\n")
        return [excess, *closed, after]

    excess, first, second, after = with_server(["serving"], body)
    assert (excess, first, second) == (b"", b"", b"")
    assert after.startswith(b"HTTP/1.1 200")


def test_probe() -> None:
    async def body(port: int) -> tuple[bool, str]:
        return await asyncio.to_thread(probe, "127.0.0.1", port, 5.0)

    assert with_server(["serving"], body) == (True, "serving")
    assert with_server(["draining"], body) == (False, "draining")
    healthy, text = probe("127.0.0.1", 1, 1.0)
    assert not healthy
    assert text.startswith("no answer from 127.0.0.1:1:")


def test_parse_address() -> None:
    assert parse_address("127.0.0.1:8751") == ("127.0.0.1", 8751)
    assert parse_address("[::1]:8751") == ("::1", 8751)
    for bad in ("8751", "host:", ":80", "host:http", "host:70000"):
        with pytest.raises(ValueError, match="expected HOST:PORT"):
            parse_address(bad)
