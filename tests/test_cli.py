"""The command line's own diagnostics (issue 12, point 4): --version, and --check when fresh."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from pbtyped.cli import main


def test_dash_dash_version_prints_the_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pbtyped", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"pbtyped {version('pbtyped')}\n"
    assert main(["version"]) == 0  # the subcommand stays


def test_check_says_so_when_everything_is_fresh(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    (schemas / "hello.py").write_text(
        "from typing import Protocol\n\n\nclass Hello(Protocol):\n"
        "    def echo(self, st: str) -> str: ...\n"
    )
    assert main(["generate", str(schemas)]) == 0
    capsys.readouterr()
    assert main(["generate", str(schemas), "--check"]) == 0
    out = capsys.readouterr().out
    assert out.endswith(" are up to date\n")
    assert out.startswith("2 generated files in ")
    assert str(tmp_path / "gen") in out
