"""A frozen peer is found by keepalive, on both sides (issue 15 item 3).

The peer is a child process stopped with SIGSTOP: its socket stays open and the kernel still
acknowledges what we send, so only the silence tells. With keepalive at 0.2 s x 3 the
connection closes within about 0.6 s; calls waiting for an answer fail with ConnectionLost
saying the peer stopped answering, and ``is_connected`` turns false. The child is continued
(SIGCONT) and killed by its PID in a ``finally``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

import pytest

import pbtyped as pb

from .harness import BOUND, Service, registry
from .test_restart import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
FAST = pb.Limits(keepalive_interval=0.2, keepalive_misses=3)


async def stop_and_kill(proc: asyncio.subprocess.Process) -> None:
    """Continue the child we stopped (by its PID) and kill it; reap it."""
    if proc.returncode is None:
        os.kill(proc.pid, signal.SIGCONT)
        proc.kill()
    await asyncio.wait_for(proc.wait(), BOUND)


def test_a_client_finds_a_frozen_server(run) -> None:
    async def body() -> None:
        server = ServerProcess()
        await server.start()
        assert server.proc is not None
        try:
            client = await pb.connect("127.0.0.1", server.port, registry=registry(), limits=FAST)
            root = await client.root()
            assert await root.call("echo", ["alive"], timeout=BOUND) == "alive"
            os.kill(server.proc.pid, signal.SIGSTOP)
            # Found by the keepalive (its error says so), within BOUND: no other timer of
            # the client's would end the call that soon.
            with pytest.raises(pb.ConnectionLost, match="the peer stopped answering"):
                await asyncio.wait_for(root.call("echo", ["frozen"]), BOUND)
            assert not client.is_connected
            await client.aclose()
        finally:
            await stop_and_kill(server.proc)

    run(body, limit=30)


def test_a_server_finds_a_frozen_client(run, caplog) -> None:
    caplog.set_level(logging.WARNING, "pbtyped")

    async def body() -> None:
        server = await pb.serve(Service(), registry=registry(), limits=FAST).start()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.faults.client_main",
            str(server.port),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            assert await asyncio.wait_for(proc.stdout.readline(), BOUND) == b"ready\n"
            [conn] = server.connections
            os.kill(proc.pid, signal.SIGSTOP)
            await asyncio.wait_for(conn.wait_closed(), BOUND)
            assert server.connections == set()
            assert "the peer stopped answering: nothing received for 0.6 s" in caplog.text
        finally:
            await stop_and_kill(proc)
            await server.aclose()

    run(body, limit=30)
