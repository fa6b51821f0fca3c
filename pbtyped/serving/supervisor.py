"""The supervisor of ``pbtyped serve``: N worker processes, restarts, the health endpoint,
and a drain of every worker on SIGTERM or SIGINT.

Workers share the listening port through SO_REUSEPORT: each has its own listening socket
and accept queue, and the kernel spreads new connections over them by a hash of the
addresses (a socket inherited by every worker would leave the spread to whichever process
wakes first, and asyncio accepts a whole backlog per wakeup). The supervisor binds the port
first (SO_REUSEPORT, never listening, so it gets no connection): an address in use fails at
once with one line, port 0 becomes a real port every worker shares, and the port stays
reserved while a crashed worker restarts. The cost: connections still queued on a worker
that crashes are reset.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, replace

from .config import ExitCode, ServeConfig
from .health import HealthServer

__all__ = ["CRASH_LOOP_COUNT", "CRASH_LOOP_WINDOW", "RestartBackoff", "Supervisor"]

log = logging.getLogger("pbtyped.serve")

#: Crashes (of any worker) within ``CRASH_LOOP_WINDOW`` seconds that make the supervisor give
#: up: it drains the other workers and exits with ExitCode.CRASH_LOOP.
CRASH_LOOP_COUNT = 5
CRASH_LOOP_WINDOW = 60.0


@dataclass
class RestartBackoff:
    """When to restart after a crash: ``first`` seconds after the first crash within the
    window, doubling with each further one, at most ``cap``; None once it is a crash loop."""

    first: float = 0.1
    cap: float = 10.0
    count: int = CRASH_LOOP_COUNT
    window: float = CRASH_LOOP_WINDOW

    def __post_init__(self) -> None:
        self._crashes: collections.deque[float] = collections.deque()

    def crashed(self, now: float) -> float | None:
        """Record a crash at ``now``: the delay before the restart, or None to give up."""
        crashes = self._crashes
        crashes.append(now)
        while crashes and crashes[0] <= now - self.window:
            crashes.popleft()
        if len(crashes) >= self.count:
            return None
        return float(min(self.cap, self.first * 2 ** (len(crashes) - 1)))


class Supervisor:
    """Runs ``config.workers`` workers until told to stop; ``run()`` returns the exit code."""

    def __init__(self, config: ServeConfig, backoff: RestartBackoff | None = None) -> None:
        self.config = config
        self.backoff = backoff if backoff is not None else RestartBackoff()
        self.draining = False
        self._stop = asyncio.Event()
        self._why = ""
        # Set once a worker listens: the others start then, so an application that cannot
        # load fails once, with one traceback, not once per worker.
        self._first_ready = asyncio.Event()
        self._announced = False
        self._failure: ExitCode | None = None
        self._ready: set[int] = set()
        self._procs: dict[int, asyncio.subprocess.Process] = {}

    def status(self) -> str:
        """What the health endpoint says: draining; starting until every worker has
        listened once (a balancer would otherwise send a restarted instance's burst to its
        first worker alone); then serving while any worker listens."""
        if self.draining:
            return "draining"
        return "serving" if self._announced and self._ready else "starting"

    def stop(self, why: str) -> None:
        """Begin the drain (a second request while draining is only logged)."""
        if self._stop.is_set():
            log.info("%s: already draining", why)
            return
        self._why = why
        self._stop.set()

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT or a fatal failure; the exit code."""
        try:
            reserved = _reserve(self.config.host, self.config.port)
        except OSError as exc:
            log.error("cannot listen on %s:%s: %s", self.config.host, self.config.port, exc)
            return ExitCode.LISTEN
        with reserved:
            self.config = replace(self.config, port=reserved.getsockname()[1])
            return await self._supervise()

    async def _supervise(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop, signal.Signals(signum).name)
        health = None
        config = self.config
        if config.health_port is not None:
            health = HealthServer(self.status)
            try:
                await health.start(config.health_host or config.host, config.health_port)
            except OSError as exc:
                log.error("cannot listen on health port %s: %s", config.health_port, exc)
                return ExitCode.LISTEN
        keepers = [asyncio.create_task(self._keep(index)) for index in range(config.workers)]
        log.info(
            "serving %s on %s:%s with %d worker%s%s",
            config.target,
            config.host,
            config.port,
            config.workers,
            "s" if config.workers > 1 else "",
            f"; health on port {health.port}" if health is not None else "",
        )
        await self._stop.wait()
        started = time.monotonic()
        code = await self._drain(keepers)
        if health is not None:
            await health.aclose()
        if self._failure is not None:
            return self._failure
        log.info(
            "%s: drained %d worker%s in %.2f s",
            self._why,
            config.workers,
            "s" if config.workers > 1 else "",
            time.monotonic() - started,
        )
        return code

    async def _drain(self, keepers: list[asyncio.Task[None]]) -> int:
        """Say "draining", wait ``drain_delay``, SIGTERM every worker, wait ``grace`` (and
        a little) for them; a worker still running is killed."""
        self.draining = True
        if self._failure is None and self.config.drain_delay:
            await asyncio.sleep(self.config.drain_delay)
        for task in keepers:  # first, so that none starts a worker the drain would miss
            task.cancel()
        await asyncio.gather(*keepers, return_exceptions=True)
        for proc in self._procs.values():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        procs = list(self._procs.values())
        code = ExitCode.OK
        if procs:
            waits = [asyncio.ensure_future(proc.wait()) for proc in procs]
            _, late = await asyncio.wait(waits, timeout=self.config.grace + 5.0)
            for proc in procs:
                if proc.returncode is None:
                    log.warning("worker %d did not stop within the grace period: killed", proc.pid)
                    proc.kill()
                    code = ExitCode.UNCLEAN
            await asyncio.gather(*late)
        return code

    async def _keep(self, index: int) -> None:
        """Keep worker ``index`` running: start it, restart it after a crash with backoff."""
        if index:
            await self._first_ready.wait()
        while not self._stop.is_set():
            what = await self._run_worker(index)
            if what is None:
                return
            delay = self.backoff.crashed(time.monotonic())
            if delay is None:
                self._fail(ExitCode.CRASH_LOOP, f"{what}; crash loop, giving up")
                return
            log.warning("%s; restarting it in %.1f s", what, delay)
            await asyncio.sleep(delay)

    async def _run_worker(self, index: int) -> str | None:
        """Start worker ``index`` and wait for its end: what became of it, or None when the
        supervisor is stopping (or failed because the worker could not start)."""
        try:
            proc, ready_fd = await self._spawn()
        except OSError as exc:  # out of processes or descriptors: a crash like any other
            return f"worker could not be started ({exc})"
        self._procs[index] = proc
        was_ready = await self._wait_ready(index, proc, ready_fd)
        code = await proc.wait()
        self._ready.discard(index)
        if self._stop.is_set():
            return None
        if not was_ready and code in (ExitCode.APP, ExitCode.LISTEN):
            self._fail(ExitCode(code), f"worker {proc.pid} could not start")
            return None
        return f"worker {proc.pid} {_exit_text(code)}"

    async def _spawn(self) -> tuple[asyncio.subprocess.Process, int]:
        read_fd, write_fd = os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "pbtyped.serving.worker",
                self.config.to_json(),
                str(write_fd),
                pass_fds=(write_fd,),
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        return proc, read_fd

    async def _wait_ready(self, index: int, proc: asyncio.subprocess.Process, fd: int) -> bool:
        """Until the worker says it listens (True) or exits first (False)."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
        )
        try:
            line = await reader.readline()
        finally:
            transport.close()
        if line.startswith(b"ready"):
            self._ready.add(index)
            log.debug("worker %d listening", proc.pid)
            if not self._announced and len(self._ready) == self.config.workers:
                self._announced = True
                count = self.config.workers
                log.info("%d worker%s listening", count, "s" if count > 1 else "")
            self._first_ready.set()
            return True
        return False

    def _fail(self, code: ExitCode, message: str) -> None:
        log.error("%s: stopping (exit status %d)", message, code)
        if self._failure is None:
            self._failure = code
        self.stop("failure")


def _exit_text(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


def _reserve(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) with SO_REUSEPORT, not listening."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def main(config: ServeConfig) -> int:
    """Run the supervisor of ``config``; the exit code."""
    return asyncio.run(Supervisor(config).run())
