"""Issue 10, row 5: sockets still in their TLS handshake count against max_connections and
time out; a good TLS client gets in, or gets a prompt and clear refusal."""

from __future__ import annotations

import asyncio

import pytest

import pbtyped as pb
from pbtyped.cred import client_context, server_context
from pbtyped.cred.devcerts import DevCertificates, write_dev_certificates

from .conftest import eventually, silent_peer


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> DevCertificates:
    return write_dev_certificates(tmp_path_factory.mktemp("certs"))


class Echoer(pb.Root):
    def remote_echo(self, value: object) -> object:
        return value


def test_silent_tls_sockets_count_and_time_out(run, certs: DevCertificates) -> None:
    """Attack: issue 10 row 5, 300 TCP connections to a TLS server that never send a
    ClientHello. They are counted (the server says so), a good client is refused at once
    with "server full" rather than left to time out, and the sockets are closed after
    tls_handshake_timeout, after which the good client gets in."""

    async def body() -> None:
        limits = pb.Limits(max_connections=100, tls_handshake_timeout=2.0)
        server_ssl = server_context(certs.server_cert, certs.server_key)
        client_ssl = client_context(certs.ca)
        loop = asyncio.get_running_loop()
        async with pb.serve(Echoer(), limits=limits, ssl=server_ssl) as server:
            silent = [await silent_peer(server.port) for _ in range(300)]
            await eventually(lambda: server.slots_in_use == 100)
            assert server.connections == set()  # none has reached the pbtyped handshake
            start = loop.time()
            with pytest.raises(pb.ConnectionLost, match=r"server full \(100 connections\)"):
                await pb.connect("127.0.0.1", server.port, ssl=client_ssl, timeout=10)
            assert loop.time() - start < limits.tls_handshake_timeout
            async with asyncio.timeout(10):
                closed = await asyncio.gather(*silent)
            assert closed == [b""] * 300  # the server closed every one
            await eventually(lambda: server.slots_in_use == 0)
            async with pb.connect("127.0.0.1", server.port, ssl=client_ssl, timeout=10) as c:
                assert await (await c.root()).call_remote("echo", "in") == "in"
                assert server.slots_in_use == 1

    run(body, limit=40)
