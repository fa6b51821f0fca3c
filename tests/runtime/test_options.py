"""Options: one typed, frozen value for what serve() and connect() are given."""

from __future__ import annotations

import dataclasses
import ssl

import pytest

import pbtyped as pb
from pbtyped.runtime.options import Options


class Echoer(pb.Root):
    def remote_echo(self, x: object) -> object:
        return x


def test_none_means_the_defaults_and_the_value_cannot_change() -> None:
    options = Options.of(registry=None, limits=None, root=None, send_tracebacks=False, ssl=None)
    assert isinstance(options.registry, pb.Registry)
    assert options.limits == pb.Limits()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.send_tracebacks = True  # type: ignore[misc]


def test_tls_arguments_carry_the_handshake_timeout_only_with_tls() -> None:
    limits = pb.Limits(tls_handshake_timeout=3.5)
    assert Options(limits=limits).tls_arguments() == {"ssl": None}
    context = ssl.create_default_context()
    assert Options(limits=limits, ssl=context).tls_arguments() == {
        "ssl": context,
        "ssl_handshake_timeout": 3.5,
    }


def test_serve_and_connect_hand_their_arguments_to_every_connection(run) -> None:
    server_limits = pb.Limits(max_calls_in_flight=7)
    client_limits = pb.Limits(max_calls_in_flight=9)
    registry = pb.Registry()
    client_root = pb.Referenceable()

    async def body() -> None:
        root = Echoer()
        async with (
            pb.serve(root, registry=registry, limits=server_limits, send_tracebacks=True) as server,
            pb.connect("127.0.0.1", server.port, limits=client_limits, root=client_root) as client,
        ):
            ref = await client.root()
            assert await ref.call_remote("echo", 1) == 1
            assert server.options == Options(
                registry=registry, limits=server_limits, root=root, send_tracebacks=True
            )
            assert server.registry is registry
            assert server.limits is server_limits
            (conn,) = server.connections
            assert conn.limits is server_limits
            assert conn.broker.registry is registry
            assert conn.broker.send_tracebacks
            assert client.connection.limits is client_limits
            assert client.connection.broker.exports.get(0) is client_root
            assert not client.connection.broker.send_tracebacks

    run(body)


def test_a_server_root_must_be_a_root() -> None:
    with pytest.raises(TypeError, match=r"must be a pbtyped\.Root"):
        pb.serve(pb.Referenceable())  # type: ignore[arg-type]
