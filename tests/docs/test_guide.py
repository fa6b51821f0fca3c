"""The guide's programs, checked: every file it marks is generated, type-checked and run.

``scripts/doc_examples.py`` says what the markers in ``docs/guide/*.md`` mean. The files of
every page go into one project folder; ``pbtyped generate`` and mypy (with the settings of
the quick start's ``pyproject.toml``) run over all of it once, and each program runs as a
process of its own and must print exactly what the guide shows, and nothing on stderr.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import doc_examples as doc
from scripts import limits_table
from scripts.doc_examples import Block, Kind

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "docs" / "guide").glob("*.md"))
BLOCKS = doc.blocks(PAGES)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
ERROR = re.compile(r"# error: \[([a-z-]+)\]")
REPORTED = re.compile(r"^[^:\n]+:(\d+): error: .*\[([a-z-]+)\]$", re.M)


def _of(kind: Kind) -> list[object]:
    return [pytest.param(b, id=b.where) for b in BLOCKS if b.kind is kind]


def _run(project: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=project,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The guide's project: every marked file written, and ``gen/`` generated."""
    folder = tmp_path_factory.mktemp("guide")
    doc.extract(BLOCKS, folder)
    done = _run(folder, "-m", "pbtyped", "generate", "schemas/")
    assert done.returncode == 0, done.stderr
    return folder


def test_every_comment_in_the_guide_is_a_marker() -> None:
    # A misspelt marker would leave its block unchecked without a word.
    for page in PAGES:
        for comment in re.findall(r"<!--.*?-->", page.read_text(encoding="utf-8"), re.S):
            line = comment + "\n"
            known = (limits_table.BEGIN, limits_table.END)
            assert doc._MARKER.fullmatch(line) or line in known, f"{page.name}: {comment}"


def test_no_complete_program_is_left_unchecked() -> None:
    assert doc.unmarked_programs(PAGES) == []


def test_the_guide_checks_something_of_each_kind() -> None:
    assert {b.kind for b in BLOCKS} == set(Kind)


def test_the_whole_project_type_checks(project: Path) -> None:
    files = [b.path for b in BLOCKS if b.kind is Kind.FILE and b.path.endswith(".py")]
    done = _run(project, "-m", "mypy", *files, "gen")
    assert done.returncode == 0, done.stdout + done.stderr


def _expected_errors(block: Block) -> set[tuple[int, str]]:
    lines = block.text.splitlines()
    return {(n, m.group(1)) for n, line in enumerate(lines, 1) if (m := ERROR.search(line))}


@pytest.mark.parametrize("block", _of(Kind.MISTAKES))
def test_mypy_refuses_the_mistakes_on_their_lines(project: Path, block: Block) -> None:
    done = _run(project, "-m", "mypy", block.path)
    found = {(int(n), code) for n, code in REPORTED.findall(done.stdout)}
    assert found == _expected_errors(block), done.stdout


@pytest.mark.parametrize("block", _of(Kind.MISTAKES))
def test_strict_alone_misses_what_truthy_bool_catches(project: Path, block: Block) -> None:
    # The quick start says --strict accepts a stub call without await in an if.
    bare = project / "strict-only.ini"
    bare.write_text("[mypy]\nstrict = true\n")
    done = _run(project, "-m", "mypy", "--config-file", str(bare), block.path)
    found = {(int(n), code) for n, code in REPORTED.findall(done.stdout)}
    expected = _expected_errors(block)
    assert found == {e for e in expected if e[1] != "truthy-bool"}, done.stdout


@pytest.mark.parametrize("block", _of(Kind.EXCERPT))
def test_excerpts_are_word_for_word(project: Path, block: Block) -> None:
    text = (project / block.path).read_text(encoding="utf-8")
    assert doc.excerpt_found(block.text, text), block.text


def _port_line(server: subprocess.Popen[str], limit: float = 30.0) -> str:
    """The server's first line of output, waited for at most ``limit`` seconds."""
    assert server.stdout is not None
    ready, _, _ = select.select([server.stdout], [], [], limit)
    assert ready, "the server printed nothing"
    return server.stdout.readline()


@pytest.mark.parametrize("block", _of(Kind.RUN))
def test_programs_print_what_the_guide_shows(project: Path, block: Block) -> None:
    args: list[str] = []
    server = None
    if block.server is not None:
        server = subprocess.Popen(
            [sys.executable, block.server, "0"],
            cwd=project,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    try:
        if server is not None:
            line = _port_line(server)
            match = re.fullmatch(r"listening on port (\d+)\n", line)
            assert match, line
            args.append(match.group(1))
        done = _run(project, block.path, *args)
    finally:
        if server is not None:
            server.terminate()
            _, server_err = server.communicate(timeout=10)
            assert server_err == "", server_err
    assert done.stderr == ""
    assert done.returncode == 0
    assert doc.output_matches(block.text, done.stdout), done.stdout


def test_an_ellipsis_in_an_output_stands_for_any_text_in_its_line() -> None:
    assert doc.output_matches("port …\nend\n", "port 8800\nend\n")
    assert not doc.output_matches("port …\nend\n", "port 8800\n\nend\n")
    assert not doc.output_matches("port …\n", "host 1\n")
    assert not doc.output_matches("one\n", "one")


@pytest.mark.parametrize("block", _of(Kind.PYTEST))
def test_the_guide_tests_pass(project: Path, block: Block) -> None:
    done = _run(project, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider", block.path)
    assert done.returncode == 0, done.stdout + done.stderr
