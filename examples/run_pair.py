"""Run one of the ported PB examples as a server process and a client process on 127.0.0.1.

    python examples/run_pair.py pbsimple          # one pair
    python examples/run_pair.py all               # every pair, one after the other
    python examples/run_pair.py exc -- --method broken2   # extra arguments go to the client

The server starts with ``--port 0`` (or ``--port N``) and reports its bound port on stderr as
``listening on HOST:PORT``; the client then runs against that port. When the client has exited
(or after ``--timeout`` seconds) the server is stopped: terminated by its PID, except trap's,
which exits by itself after ``shutdown``. Every wait is bounded. The outputs are printed under
headers; the exit status is 0 only if every client exited with status 0 and every server
started and stopped as expected.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

__all__ = ["PAIRS", "Pair", "PairResult", "main", "run_pair"]

EXAMPLES = Path(__file__).resolve().parent / "runtime"
HOST = "127.0.0.1"
LISTENING = re.compile(r"listening on (?P<host>\S+):(?P<port>\d+)$")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Pair:
    """How to run one example: its two scripts, extra client arguments, how the server ends."""

    server: str
    client: str
    client_args: tuple[str, ...] = ()
    #: True when the server exits on its own once the client is done (trap's ``shutdown``).
    server_exits: bool = False


PAIRS: dict[str, Pair] = {
    "pbsimple": Pair(server="pbsimple.py", client="pbsimpleclient.py"),
    "pb1": Pair(server="pb1server.py", client="pb1client.py"),
    "pb2": Pair(server="pb2server.py", client="pb2client.py"),
    "pb3": Pair(server="pb3server.py", client="pb3client.py"),
    "exc": Pair(server="exc_server.py", client="exc_client.py"),
    "exc_broken2": Pair(
        server="exc_server.py", client="exc_client.py", client_args=("--method", "broken2")
    ),
    "trap": Pair(server="trap_server.py", client="trap_client.py", server_exits=True),
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class PairResult:
    """What one run produced. A return code is None when that process had to be killed."""

    name: str
    port: int | None
    client_stdout: str
    client_stderr: str
    client_returncode: int | None
    server_stdout: str
    server_stderr: str
    server_returncode: int | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when the client exited with 0 and the server ran and stopped as expected."""
        return not self.problems


class _LineReader(threading.Thread):
    """Drains one pipe of a child process (so it can never block on a full pipe)."""

    def __init__(self, stream: IO[str], *, watch_listening: bool = False) -> None:
        super().__init__(daemon=True)
        self._stream = stream
        self._watch = watch_listening
        self.lines: list[str] = []
        self.port: int | None = None
        self.listening = threading.Event()

    def run(self) -> None:
        for line in self._stream:
            self.lines.append(line)
            if self._watch and self.port is None:
                match = LISTENING.search(line.rstrip("\n"))
                if match:
                    self.port = int(match["port"])
                    self.listening.set()

    @property
    def text(self) -> str:
        return "".join(self.lines)


def _text(output: str | bytes | None) -> str:
    if output is None:
        return ""
    return output if isinstance(output, str) else output.decode("utf-8", "replace")


def _stop(proc: subprocess.Popen[str], timeout: float, *, terminate: bool) -> tuple[bool, bool]:
    """Stop ``proc`` (the process we started, by its PID) within bounded waits.

    Returns (ended_by_itself, had_to_kill).
    """
    if not terminate:
        try:
            proc.wait(timeout=timeout)
            return True, False
        except subprocess.TimeoutExpired:
            pass
    ended_by_itself = proc.poll() is not None
    if not ended_by_itself:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
            return False, False
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
            return False, True
    return ended_by_itself, False


def run_pair(
    name: str,
    *,
    port: int = 0,
    python: str = sys.executable,
    timeout: float = 20.0,
    client_args: Sequence[str] = (),
) -> PairResult:
    """Run the pair ``name`` (a key of PAIRS) and collect both processes' output."""
    pair = PAIRS[name]
    problems: list[str] = []
    server_cmd = [python, str(EXAMPLES / pair.server), "--host", HOST, "--port", str(port)]
    server = subprocess.Popen(
        server_cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    assert server.stdout is not None
    assert server.stderr is not None
    out_reader = _LineReader(server.stdout)
    err_reader = _LineReader(server.stderr, watch_listening=True)
    out_reader.start()
    err_reader.start()

    client_stdout = client_stderr = ""
    client_rc: int | None = None
    bound_port: int | None = None
    try:
        deadline = time.monotonic() + timeout
        while not err_reader.listening.wait(0.05):
            if server.poll() is not None or time.monotonic() > deadline:
                break
        bound_port = err_reader.port
        if bound_port is None:
            problems.append(
                "the server exited before listening"
                if server.poll() is not None
                else f"the server did not report 'listening on' within {timeout} s"
            )
        else:
            client_cmd = [python, str(EXAMPLES / pair.client), "--host", HOST]
            client_cmd += ["--port", str(bound_port), *pair.client_args, *client_args]
            try:
                done = subprocess.run(
                    client_cmd,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    encoding="utf-8",
                    timeout=timeout,
                    check=False,
                )
                client_stdout, client_stderr = done.stdout, done.stderr
                client_rc = done.returncode
                if client_rc != 0:
                    problems.append(f"the client exited with status {client_rc}")
            except subprocess.TimeoutExpired as exc:  # run() has killed the client
                client_stdout, client_stderr = _text(exc.stdout), _text(exc.stderr)
                problems.append(f"the client did not finish within {timeout} s (killed)")
    finally:
        # A server that exits by itself gets the chance only if the client did its part.
        wait_for_exit = pair.server_exits and client_rc == 0
        by_itself, killed = _stop(server, timeout, terminate=not wait_for_exit)
        out_reader.join(timeout)
        err_reader.join(timeout)
        server.stdout.close()
        server.stderr.close()
    if wait_for_exit and not by_itself:
        problems.append(f"the server did not exit by itself within {timeout} s (terminated)")
    if pair.server_exits and by_itself and server.returncode != 0:
        problems.append(f"the server exited with status {server.returncode}")
    if not pair.server_exits and by_itself and bound_port is not None:
        problems.append(f"the server exited (status {server.returncode}) before it was stopped")
    if killed:
        problems.append("the server ignored SIGTERM and was killed")
    return PairResult(
        name=name,
        port=bound_port,
        client_stdout=client_stdout,
        client_stderr=client_stderr,
        client_returncode=client_rc,
        server_stdout=out_reader.text,
        server_stderr=err_reader.text,
        server_returncode=None if killed else server.returncode,
        problems=tuple(problems),
    )


def report(result: PairResult) -> str:
    """The outputs of one run under headers (stderr sections only when not empty)."""
    parts = [f"##### {result.name} (port {result.port})"]
    sections = [
        ("client stdout", result.client_stdout, True),
        ("client stderr", result.client_stderr, False),
        ("server stdout", result.server_stdout, True),
        ("server stderr", result.server_stderr, False),
    ]
    for title, text, always in sections:
        if text or always:
            parts.append(f"=== {title}")
            parts.append(text.rstrip("\n") or "(nothing)")
    for problem in result.problems:
        parts.append(f"!!! {problem}")
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=[*PAIRS, "all"], help="which example pair to run")
    parser.add_argument(
        "--port", type=int, default=0, help="port for the server (default 0: a free one)"
    )
    parser.add_argument(
        "--timeout", type=float, default=20.0, help="bound on each wait, in seconds"
    )
    parser.add_argument("client_args", nargs="*", help="after --: extra arguments for the client")
    args = parser.parse_args(argv)
    names = list(PAIRS) if args.name == "all" else [args.name]
    status = 0
    for name in names:
        result = run_pair(name, port=args.port, timeout=args.timeout, client_args=args.client_args)
        print(report(result), flush=True)
        if not result.ok:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
