"""The README's quick start, run as written: schema → generate → mypy → server → client."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"<!-- quickstart: (\S+) -->\n```python\n(.*?)```", re.S)


def _blocks() -> dict[str, str]:
    return dict(BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8")))


def test_readme_has_the_three_files() -> None:
    assert sorted(_blocks()) == ["client.py", "schemas/echo.py", "server.py"]


def test_quick_start_runs_in_a_fresh_directory(tmp_path: Path) -> None:
    for name, text in _blocks().items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )

    gen = run(sys.executable, "-m", "pbtyped", "generate", "schemas/")
    assert gen.returncode == 0, gen.stderr
    assert (tmp_path / "gen" / "echo.py").exists()
    assert run(sys.executable, "-m", "pbtyped", "generate", "--check", "schemas/").returncode == 0

    strict = (sys.executable, "-m", "mypy", "--strict", "--enable-error-code", "truthy-bool")
    typed = run(*strict, "server.py", "client.py")
    assert typed.returncode == 0, typed.stdout

    # The README says truthy-bool catches an await left out in a test: check that it does.
    (tmp_path / "no_await.py").write_text(
        (tmp_path / "client.py")
        .read_text()
        .replace('reply: str = await root.echo("hi")', 'reply = "x" if root.echo("hi") else ""')
    )
    no_await = run(*strict, "no_await.py")
    assert no_await.returncode == 1, no_await.stdout
    assert "[truthy-bool]" in no_await.stdout

    # The comment in client.py says root.echo(42) is a mypy error: check that it is.
    (tmp_path / "wrong.py").write_text(
        (tmp_path / "client.py").read_text().replace('root.echo("hi")', "root.echo(42)")
    )
    wrong = run(sys.executable, "-m", "mypy", "--strict", "wrong.py")
    assert wrong.returncode == 1
    assert 'Argument 1 to "echo" of "EchoerClient" has incompatible type "int"' in wrong.stdout

    with subprocess.Popen(
        [sys.executable, "server.py", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as server:
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            match = re.fullmatch(r"listening on port (\d+)\n", line)
            assert match, line
            client = run(sys.executable, "client.py", match.group(1))
            assert client.returncode == 0, client.stderr
            assert client.stdout == "server echoed: hi\n"
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                pytest.fail("the quick start server did not stop on SIGTERM")
