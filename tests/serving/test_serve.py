"""``pbtyped serve`` end to end: workers sharing a port, the health endpoint, a drain on
SIGTERM/SIGINT with one log line and exit 0, restarts after a crash, and the documented exit
statuses. Real processes on 127.0.0.1, each killed by PID when a test ends."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from pathlib import Path

import pytest

import pbtyped as pb
from pbtyped import cli
from pbtyped.serving.health import probe

from ..support import bounded_run
from .running import Serve


async def pids_seen(port: int, connections: int) -> set[int]:
    pids = set()
    for _ in range(connections):
        async with pb.connect("127.0.0.1", port) as client:
            pids.add(await (await client.root()).call_remote("who"))
    return pids


def wait_serving(serve: Serve) -> None:
    for _ in range(200):
        if probe("127.0.0.1", serve.health_port, 2.0) == (True, "serving"):
            return
        asyncio.run(asyncio.sleep(0.05))
    raise AssertionError(f"never healthy; the log:\n{serve.log()}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_two_workers_serve_and_drain_on_a_signal(signum: int) -> None:
    with Serve("tests.serving.apps:make", "--workers", "2", "--health-port", "0") as serve:
        serve.started()
        wait_serving(serve)
        serve.wait_for("2 workers listening")
        workers = serve.workers()
        assert len(workers) == 2
        # SO_REUSEPORT spreads connections by a hash of the client's port: 40 reach both.
        assert bounded_run(lambda: pids_seen(serve.port, 40)) == set(workers)
        before = serve.log()
        assert serve.stop(signum) == 0
        after = serve.log()[len(before) :]
        assert after.count("\n") == 1, after
        assert f"{signal.Signals(signum).name}: drained 2 workers in" in after
        assert "Traceback" not in serve.log()


def test_a_crashed_worker_is_restarted() -> None:
    async def crash_one(port: int) -> None:
        async with pb.connect("127.0.0.1", port) as client:
            root = await client.root()
            with pytest.raises(pb.ConnectionLost):
                await root.call_remote("crash")

    with Serve("tests.serving.apps:make", "--health-port", "0") as serve:
        serve.started()
        wait_serving(serve)
        (first,) = serve.workers()
        bounded_run(lambda: crash_one(serve.port))
        serve.wait_for(rf"worker {first} exited with status 70; restarting it in 0\.1 s")
        wait_serving(serve)
        (second,) = serve.workers()
        assert bounded_run(lambda: pids_seen(serve.port, 3)) == {second} != {first}
        assert serve.stop() == 0


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        ("tests.serving.nonexistent:make", "could not import tests.serving.nonexistent"),
        ("tests.serving.apps:make_nothing", "returned object, not a pbtyped.Root or Portal"),
    ],
)
def test_an_application_that_does_not_load_exits_3(target: str, logged: str) -> None:
    with Serve(target, "--workers", "3") as serve:
        assert serve.proc.wait(30) == 3
        log = serve.log()
        assert log.count(logged) == 1, log  # the first worker failed; no other started
        assert "could not start: stopping (exit status 3)" in log


def test_a_crash_loop_exits_5() -> None:
    with Serve("tests.serving.apps:make_crashing") as serve:
        assert serve.proc.wait(60) == 5
        log = serve.log()
        assert log.count("exited with status 71; restarting it in") == 4, log
        assert "exited with status 71; crash loop, giving up: stopping (exit status 5)" in log


def test_an_address_in_use_exits_4() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with Serve("tests.serving.apps:make", "--port", str(port)) as serve:
            assert serve.proc.wait(30) == 4
            assert f"cannot listen on 127.0.0.1:{port}" in serve.log()


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "tests.serving.apps:make", "--limit", "max_conns=1"]) == 2
    assert "error: --limit 'max_conns=1': no such limit" in capsys.readouterr().err
    assert cli.main(["health", "nowhere"]) == 2
    assert cli.main(["health", "127.0.0.1:1", "--timeout", "1"]) == 1
    assert "no answer from 127.0.0.1:1" in capsys.readouterr().out


def test_a_call_in_flight_finishes_during_the_drain_and_later_ones_are_refused() -> None:
    async def body(serve: Serve) -> tuple[str, BaseException]:
        async with pb.connect("127.0.0.1", serve.port) as client:
            root = await client.root()
            slow = asyncio.ensure_future(root.call_remote("slow", 1.0))
            await asyncio.sleep(0.3)  # the call is running in the worker
            serve.proc.send_signal(signal.SIGTERM)
            answer = await slow
            # GOODBYE came first: the call is refused here (or, once the server closed the
            # line, the reference is dead); either way it never reaches the server.
            with pytest.raises((pb.GoingAway, pb.DeadReferenceError)) as refused:
                await root.call_remote("who")
            return answer, refused.value

    with Serve("tests.serving.apps:make", "--grace", "5") as serve:
        serve.started()
        serve.wait_for("1 worker listening")
        answer, refused = bounded_run(lambda: body(serve))
        assert answer == "done"
        if isinstance(refused, pb.GoingAway):
            assert "(server shutting down)" in str(refused)
        assert serve.proc.wait(30) == 0
        assert "SIGTERM: drained 1 worker in" in serve.log()


def test_workers_drain_when_the_supervisor_is_killed() -> None:
    with Serve("tests.serving.apps:make", "--workers", "2") as serve:
        serve.started()
        serve.wait_for("2 workers listening")
        workers = serve.workers()
        serve.proc.send_signal(signal.SIGKILL)
        serve.proc.wait(10)
        for pid in workers:
            gone = rf"\[{pid}\]: the supervisor \(pid {serve.proc.pid}\) is gone: draining"
            serve.wait_for(gone, after_exit=True)
        for _ in range(100):
            if not any(Path(f"/proc/{pid}").exists() for pid in workers):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("workers still running 5 s after their supervisor died")


def test_serve_tls(tmp_path: Path) -> None:
    from pbtyped.cred import client_context
    from pbtyped.cred.devcerts import write_dev_certificates

    certs = write_dev_certificates(tmp_path)

    async def call(port: int) -> int:
        context = client_context(certs.ca)
        async with pb.connect("localhost", port, ssl=context) as client:
            return int(await (await client.root()).call_remote("who"))

    tls = ["--tls-cert", str(certs.server_cert), "--tls-key", str(certs.server_key)]
    with Serve("tests.serving.apps:make", *tls) as serve:
        serve.started()
        serve.wait_for("1 worker listening")
        assert bounded_run(lambda: call(serve.port)) == serve.workers()[0]
        assert serve.stop() == 0
