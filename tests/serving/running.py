"""``pbtyped serve`` as a real process group for the tests: started, probed, stopped by PID."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

__all__ = ["ROOT", "Serve"]


class Serve:
    """``pbtyped serve TARGET ARGS`` started in the repository root; ``port``/``health_port``
    once it logged its start line. Use as a context manager: the supervisor and any worker
    left are killed by PID on exit."""

    def __init__(self, target: str, *args: str) -> None:
        self._log = tempfile.TemporaryFile(mode="w+")
        argv = [sys.executable, "-m", "pbtyped", "serve", target, "--port", "0", *args]
        self.proc = subprocess.Popen(argv, cwd=ROOT, stderr=self._log, stdout=self._log)
        self.port = 0
        self.health_port = 0
        self._workers: set[int] = set()  # every worker seen: killed on exit, even orphaned

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read()

    def wait_for(
        self, pattern: str, limit: float = 15.0, *, after_exit: bool = False
    ) -> re.Match[str]:
        """The first match of ``pattern`` in the log, waiting for it (bounded); fails at once
        when the supervisor has exited, unless ``after_exit`` (its workers may still log)."""
        deadline = time.monotonic() + limit
        while True:
            found = re.search(pattern, self.log())
            if found is not None:
                return found
            exited = self.proc.poll() is not None and not after_exit
            if time.monotonic() > deadline or exited:
                raise AssertionError(f"{pattern!r} not logged; the log:\n{self.log()}")
            time.sleep(0.05)

    def started(self) -> Serve:
        found = self.wait_for(r"on 127\.0\.0\.1:(\d+) with \d+ workers?(?:; health on port (\d+))?")
        self.port = int(found[1])
        self.health_port = int(found[2] or 0)
        return self

    def workers(self) -> list[int]:
        out = subprocess.run(
            ["ps", "--ppid", str(self.proc.pid), "-o", "pid="],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        pids = [int(pid) for pid in out.split()]
        self._workers.update(pids)
        return pids

    def stop(self, signum: int = signal.SIGTERM, limit: float = 30.0) -> int:
        self.proc.send_signal(signum)
        return self.proc.wait(limit)

    def __enter__(self) -> Serve:
        return self

    def __exit__(self, *exc: object) -> None:
        self.workers()
        for pid in self._workers:
            try:  # only if that pid is still one of our workers
                if b"pbtyped.serving.worker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()
