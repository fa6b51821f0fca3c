"""What one open server connection allocates by itself (issue 11: at most 4 KiB per open
connection, RSS, with asyncio's transport and socket included).

The bound is on pbtyped's own allocations (tracemalloc, traces whose allocating frame is in
the pbtyped package), measured over many connections each greeted and having answered one
call, as a server holds them between calls. asyncio's transport, socket, selector key and
handles take 1.5 KiB of the 4 KiB on every connection (``python bench/micro.py
--memory-profile 1000``), so pbtyped may keep 2.5 KiB at most: past that, the goal is lost.
(2.27 KiB when this test was written, against 3.86 KiB before issue 11's cuts, both
counting the frames the fake transport kept; 2.21 KiB with the wave-2 features merged and
those frames not counted, as a real transport has sent them.) A feature that
allocates its state in ``__init__`` of Connection or Broker, rather than when it is first used,
or a table that stays behind after a call, soon fails here.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from pathlib import Path

import pbtyped as pb
from pbtyped.protocol import broker as broker_module
from pbtyped.protocol import tables
from pbtyped.protocol.broker import Broker
from pbtyped.runtime.connection import Connection
from pbtyped.runtime.endpoints import Server
from pbtyped.runtime.options import Options

from .fakes import FakeTransport

#: pbtyped's own bytes per open server connection, at most: 4 KiB less asyncio's 1.5 KiB.
BOUND = 2560
CONNECTIONS = 200
PACKAGE = str(Path(pb.__file__).parent)


class Echoer(pb.Root):
    def remote_echo(self, text: str) -> str:
        return text

    def remote_thing(self) -> pb.Referenceable:
        return pb.Referenceable()


def client_frames(server: Server, method: str) -> list[bytes]:
    """A client's Hello and one call of ``method`` on the root, as frames."""
    client = Broker(registry=server.registry)
    hello = client.initiate()
    client.receive_data(Broker(registry=server.registry, root=server.root).initiate())
    _, call = client.send_call(client.root_reference(), method, ("hello",) * (method == "echo"), {})
    return [hello, call]


def open_connections(server: Server, frames: list[list[bytes]]) -> list[Connection]:
    """Connections as asyncio makes them for a server: accepted, greeted, one call answered."""
    held = []
    for k, (hello, call) in enumerate(frames):
        conn = server._protocol()
        line = FakeTransport((f"10.0.{k // 250}.{k % 250}", 40000))
        conn.connection_made(line)  # type: ignore[arg-type]
        conn.data_received(hello)
        conn.data_received(call)
        line.writes.clear()  # a real transport has sent them: the fake must not hold them
        held.append(conn)
    return held


def own_bytes(snapshot: tracemalloc.Snapshot) -> int:
    return sum(
        stat.size
        for stat in snapshot.statistics("filename")
        if stat.traceback[0].filename.startswith(PACKAGE)
    )


def test_an_open_server_connection_keeps_little(run) -> None:
    async def body() -> None:
        server = Server("127.0.0.1", 0, Options(root=Echoer(), limits=pb.Limits()))
        open_connections(server, [client_frames(server, "echo")])  # what is made once
        frames = [client_frames(server, "echo") for _ in range(CONNECTIONS)]
        tracemalloc.start(1)
        try:
            before = own_bytes(tracemalloc.take_snapshot())
            held = open_connections(server, frames)
            after = own_bytes(tracemalloc.take_snapshot())
        finally:
            tracemalloc.stop()
        assert all(conn.broker.is_open for conn in held)
        assert len(server.connections) == CONNECTIONS + 1
        per_connection = (after - before) / CONNECTIONS
        assert per_connection <= BOUND, (
            f"{per_connection:.0f} bytes of pbtyped's own per open connection (at most {BOUND}): "
            "make new per-connection state lazy (python bench/micro.py --memory-profile 1000 "
            "says where the bytes go)"
        )

    run(body)


def test_the_shared_empty_tables_stay_empty(run) -> None:
    """Tables start as shared empty dicts and each connection makes its own before its first
    entry: one written by mistake would hold one connection's objects for every other."""

    async def body() -> None:
        server = Server("127.0.0.1", 0, Options(root=Echoer(), limits=pb.Limits()))
        held = open_connections(server, [client_frames(server, "thing") for _ in range(3)])
        for conn in held:
            assert conn.broker.export_count == 2  # the root and the thing
            conn.close()
            conn.connection_lost(None)
        await asyncio.sleep(0)
        assert tables._NO_EXPORTS == {}
        assert tables._NO_IDS == {}
        assert tables._NO_IMPORTS == {}
        assert tables._NO_RELEASES == {}
        assert broker_module._NO_QUESTIONS == {}

    run(body)
