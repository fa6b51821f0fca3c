"""Start bench worker processes and stop them again: bounded waits, only our own PIDs."""

from __future__ import annotations

import io
import json
import os
import selectors
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent


def pbtyped_source(rev: str, out: Path) -> tuple[dict[str, str], str]:
    """The environment that makes workers import pbtyped as of git ``rev``, and a description.

    ``rev`` "worktree" uses the files as they are; otherwise ``pbtyped/`` and
    ``codegen/templates`` of that commit are exported under ``out`` and put first on
    PYTHONPATH, so a bench measures one known commit even while the tree is being edited.
    """
    env = dict(os.environ)
    if rev == "worktree":
        return env, "the working tree"
    git = ["git", "-C", str(HERE.parent)]
    sha = subprocess.run(
        [*git, "rev-parse", "--short", rev], capture_output=True, text=True, check=False
    ).stdout.strip()
    if not sha:
        return env, f"the working tree (git rev {rev!r} not found)"
    target = (out / f"src-{sha}").resolve()
    if not (target / "pbtyped" / "__init__.py").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            [*git, "archive", "--format=tar", sha, "pbtyped", "codegen"],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target, filter="data")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(target), env.get("PYTHONPATH")]))
    return env, f"commit {sha}"


def compile_proto(out: Path) -> tuple[Path | None, str]:
    """Compile bench/grpc/bench.proto with grpcio-tools into ``out``; the dir, or None and why.

    Compiled at bench start rather than committed: the generated modules refuse to load on a
    protobuf runtime older than the protoc that made them, and the protoc bundled with the
    installed grpcio-tools always matches the installed runtime (no network: it is a wheel).
    """
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    proto = HERE / "grpc" / "bench.proto"
    cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{proto.parent}"]
    cmd += [f"--python_out={out}", f"--grpc_python_out={out}", str(proto)]
    why = run_generator(cmd, out / "bench_pb2_grpc.py", "grpc_tools.protoc")
    if why:
        return None, why
    return out, "compiled by grpc_tools.protoc from bench/grpc/bench.proto"


def run_generator(
    cmd: list[str],
    made: Path,
    name: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> str | None:
    """Run a code generator that should make the file ``made``: None if it did, else why not."""
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=120, check=False, env=env, cwd=cwd
        )
    except subprocess.TimeoutExpired:
        return f"{name} timed out"
    if done.returncode != 0 or not made.exists():
        why = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"{name} unavailable or failed: {why[0]}"
    return None


class BenchError(Exception):
    """A worker did not start, crashed or timed out; the message says which and why."""


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid


def worker_cmd(script: str, role: str, *args: str, flags: tuple[str, ...] = ()) -> list[str]:
    return [sys.executable, *flags, str(HERE / script), role, *args]


def read_line(stream: IO[bytes], timeout: float) -> bytes:
    """One line from a pipe, or b"" if none came within ``timeout`` seconds."""
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    try:
        deadline = time.monotonic() + timeout
        buf = b""
        while not buf.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                return b""
            chunk = os.read(stream.fileno(), 1)
            if not chunk:
                return buf
            buf += chunk
        return buf
    finally:
        sel.close()


def start_server(
    script: str,
    args: list[str],
    log: Path,
    env: dict[str, str] | None = None,
    flags: tuple[str, ...] = (),
) -> Server:
    """Start a worker's server side; it prints ``PORT <n>`` once listening."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            worker_cmd(script, "server", *args, flags=flags),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
        )
    assert proc.stdout is not None
    line = read_line(proc.stdout, 30.0)
    if not line.startswith(b"PORT "):
        stop(proc)
        raise BenchError(f"{script} server did not start: {tail(log)}")
    return Server(proc, int(line.split()[1]), log)


def stop(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Close its stdin (the stop signal), wait ``grace`` seconds, then kill that PID."""
    if proc.stdin is not None and not proc.stdin.closed:
        try:
            proc.stdin.close()
        except OSError:
            pass
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace)
    if proc.stdout is not None:
        proc.stdout.close()


def run_client(
    script: str,
    args: list[str],
    timeout: float,
    log: Path,
    env: dict[str, str] | None = None,
    flags: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Run a worker's client side to completion and return its RESULT."""
    with open(log, "wb") as err:
        try:
            done = subprocess.run(
                worker_cmd(script, "client", *args, flags=flags),
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            # subprocess.run kills the child it started before raising.
            raise BenchError(f"{script} client timed out after {timeout:.0f} s") from None
    for line in done.stdout.decode(errors="replace").splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[len("RESULT ") :])
            return result
    raise BenchError(f"{script} client failed (exit {done.returncode}): {tail(log)}")


def tail(path: Path, lines: int = 6) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"
