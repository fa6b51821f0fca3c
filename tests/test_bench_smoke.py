"""The bench still runs: bench/run.py and bench/scale.py with tiny counts (no timing asserted)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"

# Every system row run.py prints (a system whose package is missing prints a "skipped" row).
ROWS = [
    "pbtyped",
    "pbtyped + uvloop",
    "Twisted PB",
    "gRPC aio",
    "bare asyncio+cbor2",
    "bare uvloop+cbor2",
]


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def _run(script: str, out: Path, *args: str, tiny: bool = True) -> str:
    size = ["--tiny"] if tiny else []
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *size, "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_run_py_tiny_prints_every_system_row(tmp_path: Path) -> None:
    stdout = _run("run.py", tmp_path)
    rows = {line.split("|")[1].strip() for line in stdout.splitlines() if line.startswith("| ")}
    for row in ROWS:
        assert row in rows, f"no table row for {row!r}:\n{stdout}"
    assert "pbtyped / Twisted PB" in stdout
    assert "pbtyped / bare floor" in stdout
    assert (tmp_path / "latest.json").exists()
    assert (tmp_path / "latest.md").exists()


def test_scale_py_tiny_prints_its_table(tmp_path: Path) -> None:
    stdout = _run("scale.py", tmp_path, "--levels", "1,3", "--procs", "2", "--refs", "50")
    assert "| 1 |" in stdout
    assert "| 3 |" in stdout
    assert "per exported reference" in stdout


def test_roundtrip_py_prints_every_system(tmp_path: Path) -> None:
    stdout = _run("roundtrip.py", tmp_path, "--calls", "300", "--rounds", "1", tiny=False)
    for name in ("bare asyncio+cbor2", "pbtyped, runtime API", "pbtyped, generated stubs"):
        assert f"| {name} |" in stdout


def test_micro_py_times_the_client_alone_and_the_round_trip(tmp_path: Path) -> None:
    stdout = _run("micro.py", tmp_path, "--at", "worktree", "--client-path")
    for name in ("the floor", "root.call_remote", "a typed stub's echo()"):
        assert name in stdout, stdout
    assert "one call at a time" in _run("micro.py", tmp_path, "--at", "worktree", "--round-trip")
    many = _run("micro.py", tmp_path, "--at", "worktree", "--client-path", "--conns", "3")
    assert "3 connections, each making" in many, many


def test_pipeline_py_tiny_prints_every_chain(tmp_path: Path) -> None:
    stdout = _run("pipeline.py", tmp_path)
    rows = {line.split("|")[1].strip() for line in stdout.splitlines() if line.startswith("| ")}
    expected = {"link alone (one byte each way)", "pbtyped, pipelined", "pbtyped, awaited"}
    assert expected | {"Twisted PB"} <= rows, stdout
    assert "chain of 10" in stdout
    # Twisted and matplotlib come with the bench extra: without them, a skipped row and no chart.
    assert (tmp_path / "pipeline.png").exists() == _installed("matplotlib"), stdout
    assert ("| Twisted PB | skipped" in stdout) != _installed("twisted"), stdout
    assert (tmp_path / "pipeline.json").exists()


def test_streams_py_tiny_prints_every_system_row(tmp_path: Path) -> None:
    stdout = _run("streams.py", tmp_path)
    for name in (
        "pbtyped stream",
        "pbtyped, one call per item",
        "gRPC aio server streaming",
        "Twisted PB pagers",
        "raw asyncio socket (the floor)",
    ):
        assert f"| {name}" in stdout, stdout  # a system whose package is missing: "skipped"
    assert (
        "| Twisted PB pagers (Pager of 1,000 items, StringPager 64 KiB) | skipped" in stdout
    ) != (_installed("twisted")), stdout
    assert "pbtyped stream / one call per item" in stdout
    assert (tmp_path / "streams.json").exists()
