"""The atheris target in fuzz/ keeps working: its seeds are current, replay cleanly, and its
pure-Python driver runs for a moment without a finding (atheris itself is not needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "fuzz" / "fuzz_decoder.py"
SEEDS = ROOT / "fuzz" / "seeds"


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), FUZZ_SEED="1")
    return subprocess.run(
        [sys.executable, str(TARGET), "--fallback", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_seeds_are_current(tmp_path: Path) -> None:
    done = _run("--write-seeds", str(tmp_path))
    assert done.returncode == 0, done.stderr
    fresh = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    stored = {p.name: p.read_bytes() for p in SEEDS.iterdir()}
    assert fresh == stored, "run: python fuzz/fuzz_decoder.py --write-seeds fuzz/seeds"


def test_seeds_replay_without_a_finding() -> None:
    done = _run(*sorted(str(p) for p in SEEDS.iterdir()))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("no finding") == len(list(SEEDS.iterdir()))


def test_fallback_driver_runs_for_a_fixed_time(tmp_path: Path) -> None:
    done = _run("-max_total_time=2", str(SEEDS), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no finding" in done.stdout
    assert list(tmp_path.iterdir()) == []  # no crash file written
