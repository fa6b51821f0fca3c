"""Issue 6, item 6: TLS, mutual TLS, and clients that fail verification never reach the broker.

Certificates are made at test time by ``write_dev_certificates`` (the conftest's fixtures).
"""

from __future__ import annotations

import asyncio
import ssl

import pytest

import pbtyped as pb
from pbtyped.cred import (
    Portal,
    ScramChecker,
    client_context,
    login,
    server_context,
)
from pbtyped.cred.devcerts import DevCertificates

from .conftest import ITERATIONS
from .realms import Counting, Realm


def test_server_authenticated_tls_with_login(run, certs: DevCertificates, store) -> None:
    async def body() -> None:
        portal = Portal(Realm(), [ScramChecker(store, fake_iterations=ITERATIONS)])
        server_ssl = server_context(certs.server_cert, certs.server_key)
        async with (
            pb.serve(portal.root(), ssl=server_ssl) as server,
            pb.connect("127.0.0.1", server.port, ssl=client_context(certs.ca)) as client,
        ):
            alice = await login(client, "alice", "wonderland")
            assert await alice.call_remote("whoami") == "alice"
            transport = client.connection._transport
            assert transport is not None
            assert transport.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")

    run(body)


def test_mutual_tls(run, certs: DevCertificates) -> None:
    async def body() -> None:
        root = Counting()
        server_ssl = server_context(certs.server_cert, certs.server_key, client_ca=certs.ca)
        client_ssl = client_context(certs.ca, certfile=certs.client_cert, keyfile=certs.client_key)
        async with (
            pb.serve(root, ssl=server_ssl) as server,
            pb.connect("127.0.0.1", server.port, ssl=client_ssl) as client,
        ):
            assert await (await client.root()).call_remote("hello") == "hello"
            (conn,) = server.connections
            assert conn._transport is not None
            peer = conn._transport.get_extra_info("peercert")
            assert ((("commonName", "pbtyped development client"),),) == peer["subject"]
        assert root.calls == 1

    run(body)


def test_client_that_does_not_trust_the_server_never_connects(
    run, certs: DevCertificates, rogue: DevCertificates
) -> None:
    async def body() -> None:
        root = Counting()
        server_ssl = server_context(certs.server_cert, certs.server_key)
        async with pb.serve(root, ssl=server_ssl) as server:
            with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
                await pb.connect("127.0.0.1", server.port, ssl=client_context(rogue.ca))
            # Plain TCP to a TLS server gets no further than the TLS handshake either.
            with pytest.raises((pb.ConnectionLost, TimeoutError)):
                await pb.connect("127.0.0.1", server.port, timeout=2)
            assert not server.connections
        assert root.calls == 0

    run(body)


@pytest.mark.parametrize("client_cert", ["none", "rogue"])
@pytest.mark.parametrize("tls", ["1.3", "1.2"])
def test_client_without_a_trusted_certificate_never_reaches_the_broker(
    run, certs: DevCertificates, rogue: DevCertificates, client_cert: str, tls: str
) -> None:
    """The server refuses the TLS handshake: no pbtyped byte is read, no root method runs.

    What the client sees depends on the TLS version: under TLS 1.2 its own handshake fails
    (an SSL alert, or a reset when the server drops the line first); under TLS 1.3 it finishes
    its handshake before the server checks its certificate, so it learns only that the line
    closed before the pbtyped handshake (ConnectionLost). Either way ``connect`` fails.
    """

    async def body() -> None:
        root = Counting()
        server_ssl = server_context(certs.server_cert, certs.server_key, client_ca=certs.ca)
        if tls == "1.2":
            server_ssl.maximum_version = ssl.TLSVersion.TLSv1_2
        if client_cert == "rogue":
            client_ssl = client_context(
                certs.ca, certfile=rogue.client_cert, keyfile=rogue.client_key
            )
        else:
            client_ssl = client_context(certs.ca)
        refused = (ssl.SSLError, ConnectionResetError) if tls == "1.2" else pb.ConnectionLost
        async with pb.serve(root, ssl=server_ssl) as server:
            with pytest.raises(refused):
                async with pb.connect(
                    "127.0.0.1", server.port, ssl=client_ssl, timeout=5
                ) as client:
                    await (await client.root()).call_remote("hello")
            assert not server.connections  # no pbtyped connection was ever made
        assert root.calls == 0

    run(body)


def test_failed_tls_handshakes_are_not_counted_as_connections(run, certs: DevCertificates) -> None:
    async def body() -> None:
        server_ssl = server_context(certs.server_cert, certs.server_key, client_ca=certs.ca)
        async with pb.serve(Counting(), ssl=server_ssl) as server:
            for _ in range(3):
                with pytest.raises(pb.ConnectionLost):
                    await pb.connect("127.0.0.1", server.port, ssl=client_context(certs.ca))
            await asyncio.sleep(0.1)
            assert len(server.connections) == 0
        # Leaving ``serve`` closed the server at once: nothing waits on a never-made connection.

    run(body)
