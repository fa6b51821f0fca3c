"""SIGTERM and SIGINT drain a server and end its process with status 0, one log line and no
traceback (issue 15 item 2, pb.serve_until_signalled)."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

import pbtyped as pb

from .harness import BOUND

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_a_signal_drains_the_server_and_exits_cleanly(run, sig: signal.Signals) -> None:
    async def body() -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.faults.signal_main",
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            port = int(await asyncio.wait_for(proc.stdout.readline(), BOUND))
            async with pb.connect("127.0.0.1", port) as client:
                root = await client.root()
                held = asyncio.ensure_future(root.call_remote("hold", 0.5))
                await asyncio.sleep(0.1)  # the call is running
                proc.send_signal(sig)
                assert await asyncio.wait_for(held, BOUND) == "finished"
                await asyncio.wait_for(client.connection.wait_closed(), BOUND)
            _, stderr = await asyncio.wait_for(proc.communicate(), BOUND)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode == 0
        assert stderr.decode().splitlines() == [
            f"INFO pbtyped: {sig.name} received: draining 1 connection(s), grace 5 s"
        ]

    run(body, limit=30)
