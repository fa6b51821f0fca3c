#!/usr/bin/env python3
"""HAProxy in front of two ``pbtyped serve`` instances, through a rolling restart (issue 15).

Installs HAProxy with apt-get when it is missing (failing loudly if it cannot), starts two
instances of scripts/balancer/app.py (two workers each, PROXY protocol from 127.0.0.1,
health ports) and HAProxy with scripts/balancer/haproxy.cfg, then runs 200 reconnecting
clients (``pb.Reconnecting``) calling ``who()`` while each instance in turn is drained
(SIGTERM) and restarted.

It checks, and prints: HAProxy marks the draining instance DOWN before the instance stops
accepting; every call returns (none fails, none hangs: each is bounded and counted; a call
refused with GoingAway by a draining instance is sent again by pb.Reconnecting, and any
other error fails the check); every client calls successfully after the restarts; the
connections' spread over the worker processes; each server sees, and logs, the client's
own address and port (the PROXY header), not HAProxy's. Exit status 0 when every check
holds. Every process it starts is killed by PID when it ends.

    python scripts/balancer_check.py [--clients 200]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import csv
import io
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pbtyped as pb  # noqa: E402
from pbtyped.serving.health import probe  # noqa: E402

CONFIG = ROOT / "scripts" / "balancer" / "haproxy.cfg"
#: What a call may raise that says clearly what happened (the rest count as unclear).
CLEAR = tuple(
    cls
    for cls in (
        pb.ConnectionLost,
        pb.DeadReferenceError,
        pb.CallTimeout,
        getattr(pb, "GoingAway", None),
        ConnectionRefusedError,
    )
    if cls is not None
)
#: A call not settled within this is counted as lost (it never should be).
CALL_BOUND = 15.0


def ensure_haproxy() -> str:
    """The haproxy binary, installed from the distribution's packages if missing."""
    found = shutil.which("haproxy")
    if found is not None:
        return found
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    print("haproxy is missing: installing it with apt-get", flush=True)
    for step in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "haproxy"]):
        done = subprocess.run([*prefix, *step], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"FAIL: could not install haproxy ({' '.join(step)}):\n{done.stderr}")
    found = shutil.which("haproxy")
    if found is None:
        sys.exit("FAIL: apt-get installed haproxy, yet no haproxy is on PATH")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True, check=False
    ).stdout
    return [int(child) for child in out.split()]


@dataclass
class Instance:
    """One ``pbtyped serve`` instance (a supervisor and two workers)."""

    name: str
    folder: Path
    clients: int
    worker_count: int = 2
    #: Behind HAProxy (a PROXY header from 127.0.0.1), or reached directly.
    proxied: bool = True
    port: int = field(default_factory=free_port)
    health_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)
    #: Each worker's pid: which start of this instance it belongs to (1, 2).
    workers: dict[int, str] = field(default_factory=dict)

    def start(self) -> None:
        log = self.folder / f"{self.name}-{len(self.logs)}.log"
        self.logs.append(log)
        argv = [sys.executable, "-m", "pbtyped", "serve", "scripts.balancer.app:make"]
        argv += ["--port", str(self.port), "--workers", str(self.worker_count)]
        argv += ["--health-port", str(self.health_port)]
        argv += ["--proxy-protocol-from", "127.0.0.1"] if self.proxied else []
        argv += ["--drain-delay", "1", "--grace", "2"]
        # All clients come from 127.0.0.1, and the share applies to the client's address.
        argv += ["--limit", f"max_connections_per_address={2 * self.clients}"]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)

    async def serving(self, limit: float = 20.0) -> None:
        deadline = time.monotonic() + limit
        while (await asyncio.to_thread(probe, "127.0.0.1", self.health_port, 1.0)) != (
            True,
            "serving",
        ):
            if time.monotonic() > deadline or (self.proc and self.proc.poll() is not None):
                raise SystemExit(f"FAIL: instance {self.name} never served:\n{self.log_text()}")
            await asyncio.sleep(0.05)
        assert self.proc is not None
        for pid in children(self.proc.pid):
            self.workers[pid] = f"instance {self.name}, start {len(self.logs)}"

    def log_text(self) -> str:
        return "".join(log.read_text() for log in self.logs if log.exists())

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            for pid in children(self.proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.kill()
            self.proc.wait(10)


@dataclass
class HAProxy:
    binary: str
    folder: Path
    instances: list[Instance]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ)
        env["PB_HAPROXY_STATS"] = str(self.folder / "haproxy.sock")
        env["PB_HAPROXY_BIND"] = f"127.0.0.1:{self.port}"
        for instance in self.instances:
            env[f"PB_PORT_{instance.name.upper()}"] = str(instance.port)
            env[f"PB_HEALTH_{instance.name.upper()}"] = str(instance.health_port)
        argv = [self.binary, "-db", "-f", str(CONFIG)]
        with (self.folder / "haproxy.log").open("wb") as out:
            self.proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)

    async def command(self, line: str) -> str:
        """What the stats socket answers to one command."""
        reader, writer = await asyncio.open_unix_connection(str(self.folder / "haproxy.sock"))
        try:
            writer.write(line.encode() + b"\n")
            return (await reader.read()).decode()
        finally:
            writer.close()

    async def status(self) -> dict[str, str]:
        """Each server's status (UP, DOWN, ...) from the stats socket."""
        text = await self.command("show stat")
        rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
        return {row["svname"]: row["status"] for row in rows if row["pxname"] == "pbtyped_servers"}

    async def wait_status(self, server: str, wanted: str, limit: float = 20.0) -> float:
        deadline = time.monotonic() + limit
        while True:
            try:
                if (await self.status()).get(server, "").split(" ")[0] == wanted:
                    return time.monotonic()
            except OSError:  # not listening on its stats socket yet
                pass
            if time.monotonic() > deadline or (self.proc and self.proc.poll() is not None):
                log = (self.folder / "haproxy.log").read_text()
                raise SystemExit(f"FAIL: HAProxy never marked {server} {wanted}:\n{log}")
            await asyncio.sleep(0.02)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@dataclass
class Tally:
    """What every call did, and what the clients saw."""

    ok: int = 0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    unclear: collections.Counter[str] = field(default_factory=collections.Counter)
    lost: int = 0
    connections: int = 0
    per_worker: collections.Counter[int] = field(default_factory=collections.Counter)
    wrong_address: list[str] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    resumed: set[int] = field(default_factory=set)
    clients: int = 0
    all_resumed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def calls(self) -> int:
        return self.ok + sum(self.errors.values()) + sum(self.unclear.values()) + self.lost


class Caller:
    """One client: a ``pb.Reconnecting`` whose setup makes the first call on each new
    connection (the worker it reached, the address the server saw); then calls ``who()``
    every 0.1-0.3 s, counting what each call did."""

    def __init__(self, index: int, port: int, tally: Tally) -> None:
        self.index = index
        self.tally = tally
        self.after_restarts = False
        backoff = pb.Backoff(initial=0.05, cap=1.0)
        self.link = pb.Reconnecting("127.0.0.1", port, setup=self.setup, backoff=backoff)

    async def setup(self, client: pb.Client) -> None:
        tally = self.tally
        pid, host, port = await (await client.root()).call("who", timeout=5.0)
        tally.connections += 1
        tally.per_worker[pid] += 1
        # The server saw our own socket address: HAProxy's PROXY header named it.
        mine = client.connection._transport.get_extra_info("sockname")
        if (host, port) != tuple(mine[:2]):
            tally.wrong_address.append(f"server saw {host}:{port}, client is {mine}")
        tally.ports.append(port)

    async def call_once(self) -> None:
        tally = self.tally
        try:
            async with asyncio.timeout(CALL_BOUND):
                await self.link.root.call("who", timeout=5.0)
        except TimeoutError as exc:
            if isinstance(exc, pb.CallTimeout):
                tally.errors[type(exc).__name__] += 1
            else:
                tally.lost += 1
            return
        except CLEAR as exc:
            tally.errors[type(exc).__name__] += 1
            return
        except Exception as exc:
            tally.unclear[f"{type(exc).__name__}: {exc}"] += 1
            return
        tally.ok += 1
        if self.after_restarts:
            tally.resumed.add(self.index)
            if len(tally.resumed) == tally.clients:
                tally.all_resumed.set()

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.sleep(random.uniform(0, 1.0))  # a ramp, not 200 connects at once
        async with self.link:
            while not stop.is_set():
                await self.call_once()
                await asyncio.sleep(random.uniform(0.1, 0.3))


async def accepting(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


async def roll(instance: Instance, haproxy: HAProxy) -> dict[str, float]:
    """Drain ``instance`` and restart it; when HAProxy took it out and when it stopped
    accepting, in seconds after the SIGTERM."""
    assert instance.proc is not None
    began = time.monotonic()
    instance.proc.send_signal(signal.SIGTERM)
    down = asyncio.ensure_future(haproxy.wait_status(instance.name, "DOWN"))
    for _ in range(3000):  # 30 s at most
        if not await accepting(instance.port):
            break
        await asyncio.sleep(0.01)
    else:
        raise SystemExit(f"FAIL: instance {instance.name} kept accepting for 30 s")
    closed = time.monotonic()
    taken_out = await down
    code = await asyncio.to_thread(instance.proc.wait, 30)
    stopped = time.monotonic()
    instance.start()
    await instance.serving()
    back = await haproxy.wait_status(instance.name, "UP")
    if code != 0:
        raise SystemExit(f"FAIL: instance {instance.name} exited {code}:\n{instance.log_text()}")
    return {
        "taken out": taken_out - began,
        "stopped accepting": closed - began,
        "exited": stopped - began,
        "back in": back - began,
    }


async def check(clients: int, folder: Path, binary: str) -> list[str]:
    instances = [Instance("a", folder, clients), Instance("b", folder, clients)]
    haproxy = HAProxy(binary, folder, instances)
    try:
        for instance in instances:
            instance.start()
        for instance in instances:
            await instance.serving()
        haproxy.start()
        for instance in instances:
            await haproxy.wait_status(instance.name, "UP")
        return await rolling_restart(clients, instances, haproxy)
    finally:
        haproxy.kill()
        for instance in instances:
            instance.kill()


async def rolling_restart(clients: int, instances: list[Instance], haproxy: HAProxy) -> list[str]:
    tally = Tally(clients=clients)
    stop = asyncio.Event()
    callers = [Caller(i, haproxy.port, tally) for i in range(clients)]
    tasks = [asyncio.ensure_future(caller.run(stop)) for caller in callers]
    await asyncio.sleep(3.0)
    timings = {}
    for instance in instances:
        timings[instance.name] = await roll(instance, haproxy)
        await asyncio.sleep(1.0)
    for caller in callers:
        caller.after_restarts = True
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(tally.all_resumed.wait(), 20.0)
    stop.set()
    await asyncio.gather(*tasks)
    return report(clients, tally, timings, instances)


def report(
    clients: int, tally: Tally, timings: dict[str, dict[str, float]], instances: list[Instance]
) -> list[str]:
    failures = []
    print(f"{clients} clients, {tally.calls} calls: {tally.ok} returned")
    print(f"  clear errors: {dict(tally.errors) or 'none'}")
    print(f"  unclear errors: {dict(tally.unclear) or 'none'}")
    print(f"  lost (no outcome within {CALL_BOUND} s): {tally.lost}")
    for name, times in timings.items():
        shown = ", ".join(f"{what} {at:.2f} s" for what, at in times.items())
        print(f"  instance {name} after SIGTERM: {shown}")
        if not times["taken out"] < times["stopped accepting"]:
            failures.append(f"HAProxy took {name} out only after it stopped accepting")
    print(f"  connections: {tally.connections}, over {len(tally.per_worker)} worker processes:")
    names = {pid: name for instance in instances for pid, name in instance.workers.items()}
    for pid, count in sorted(tally.per_worker.items()):
        print(f"    {names.get(pid, 'unknown')}, worker {pid}: {count}")
    print(f"  clients that called successfully after the restarts: {len(tally.resumed)}/{clients}")
    logs = "".join(instance.log_text() for instance in instances)
    logged = sum(f"connection from 127.0.0.1:{port}\n" in logs for port in tally.ports)
    seen = tally.connections - len(tally.wrong_address)
    print(f"  connections on which the server saw the client's own address: {seen}")
    print(f"  ... and logged it: {logged}/{len(tally.ports)}")
    if tally.unclear or tally.lost:
        failures.append("calls ended without a clear outcome")
    if tally.errors:
        # A drain loses no call: a call that crossed the GOODBYE is refused with GoingAway
        # (it did not run) and pb.Reconnecting sends it again on its next connection.
        failures.append(f"calls failed during the rolling restarts: {dict(tally.errors)}")
    if len(tally.resumed) < clients:
        failures.append(f"{clients - len(tally.resumed)} clients did not resume")
    if tally.wrong_address or logged < len(tally.ports):
        failures.append(f"server saw a wrong address: {tally.wrong_address[:3]}")
    # Long-lived connections stay where they are: the last instance restarted gets none
    # until clients reconnect; both workers of every other start get some.
    if len(tally.per_worker) < 6:
        failures.append(f"connections reached only {len(tally.per_worker)} worker processes")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    args = parser.parse_args()
    binary = ensure_haproxy()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pbtyped-balancer-") as folder:
        failures = asyncio.run(check(args.clients, Path(folder), binary))
    print(f"took {time.monotonic() - started:.1f} s")
    for failure in failures:
        print(f"FAIL: {failure}")
    if not failures:
        print("OK: every check holds")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
