"""bench/soak.py runs end to end (for ~3 s): calls succeed, nothing unexpected, tables empty."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_soak_runs_briefly_and_leaves_the_tables_empty() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))  # this checkout's pbtyped, in every process
    done = subprocess.run(
        [sys.executable, "bench/soak.py", "--seconds", "3", "--clients", "4", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["ok"] is True
    assert result["calls_completed"] > 100
    assert result["unexpected_errors"] == {}
    assert result["tables_empty_while_connected"] is True
    assert result["tables_after_disconnect"]["connections"] == 1
    assert result["tables_after_disconnect"]["exports"] == [1]
    assert {"SoakError", "RemoteError", "NoSuchMethod"} <= set(result["expected_errors"])
    assert 0 < result["server_rss_kib"]["start"] <= result["server_rss_kib"]["peak"]
