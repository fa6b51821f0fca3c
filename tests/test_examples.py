"""The ported PB examples, run as real server and client processes, print what the seed shows.

Each pair goes through ``examples/run_pair.py`` (imported, with ``sys.executable``). Lines are
compared exactly; only the memory addresses in reprs (``0x…`` below) are matched by a pattern.
Expected lines are the ones ``../shared/seed/listings.md`` documents, in pbtyped's form: reprs of
``pbtyped.RemoteReference``, snake_case method names in code (the printed text is unchanged),
and for exc the modern equivalents of PB's four Failure lines that ``exc_client.py`` documents.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
ADDR = "0x…"
# The server's stderr holds only this line unless something was logged.
LISTENING = re.compile(r"listening on 127\.0\.0\.1:\d+\n")


def _load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_pair", ROOT / "examples" / "run_pair.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("run_pair", module)  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


run_pair_module = _load_runner()

EXPECTED: dict[str, tuple[list[str], list[str]]] = {
    # name: (client stdout, server stdout)
    "pbsimple": (
        ["server echoed: hello network"],
        ["echoing: hello network"],
    ),
    "pb1": (
        [
            "got first object: <pbtyped.RemoteReference #0 at 0x…>",
            "asking it to getTwo",
            "got second object: <pbtyped.RemoteReference #1 at 0x…>",
            "telling it to do three(12)",
        ],
        [
            "returning a Two called <__main__.Two object at 0x…>",
            "Two.three was given 12",
        ],
    ),
    "pb2": (
        [
            "got one object: <pbtyped.RemoteReference #0 at 0x…>",
            "asking it to getTwo",
            "got two object: <pbtyped.RemoteReference #1 at 0x…>",
            "giving it back to one",
            "one is <pbtyped.RemoteReference #0 at 0x…>",
        ],
        [
            "One.getTwo(), returning my two called <__main__.Two object at 0x…>",
            "One.checkTwo(): comparing my two <__main__.Two object at 0x…>",
            "One.checkTwo(): against your two <__main__.Two object at 0x…>",
            "One.checkTwo(): our twos are the same",
        ],
    ),
    "pb3": (
        [
            "got One: <pbtyped.RemoteReference #0 at 0x…>",
            "giving it our two",
            "Two.print() called with 12",
        ],
        [
            "received a Two called <pbtyped.RemoteReference #1 at 0x…>",
            "telling it to print(12)",
        ],
    ),
    "exc": (
        [
            "got remote Exception",
            " .__class__ = <class '__main__.MyError'>",
            " str(exc) = fall down go boom",
            " wire name = exc.MyError",
        ],
        ["raising a MyError exception with data 'fall down go boom'"],
    ),
    "exc_broken2": (
        [
            "got remote Exception",
            " .__class__ = <class 'pbtyped.RemoteError'>",
            " .message = hadda owie",
            " .remote_type = __main__.MyError2",
        ],
        ["raising a MyError2 exception with data 'hadda owie'"],
    ),
    "trap": (
        [
            "callOne: call with safe object",
            " method successful, response: response",
            "callTwo: call with dangerous object",
            " InsecureJelly: you tried to send something unsafe to them",
            "callThree: call that raises remote exception",
            " remote raised a MyException",
            "telling them to shut down",
            "callFour: call on stale reference",
            " stale reference: the client disconnected or crashed",
        ],
        [],
    ),
}


def _pattern(line: str) -> re.Pattern[str]:
    return re.compile(re.escape(line).replace(re.escape(ADDR), "(0x[0-9a-f]+)"))


def match_lines(actual: str, expected: list[str]) -> list[tuple[str, ...]]:
    """Assert ``actual`` is exactly the expected lines; return each line's captured addresses."""
    lines = actual.splitlines()
    assert len(lines) == len(expected), f"expected {expected!r}, got {lines!r}"
    captured = []
    for got, want in zip(lines, expected, strict=True):
        match = _pattern(want).fullmatch(got)
        assert match is not None, f"expected {want!r}, got {got!r}"
        captured.append(match.groups())
    return captured


def _run(name: str) -> Any:
    result = run_pair_module.run_pair(name, python=sys.executable, timeout=20.0)
    assert result.problems == (), run_pair_module.report(result)
    assert result.client_returncode == 0
    return result


def test_every_pair_is_checked() -> None:
    assert set(EXPECTED) == set(run_pair_module.PAIRS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_pair_prints_the_seed_output(name: str) -> None:
    result = _run(name)
    client_lines, server_lines = EXPECTED[name]
    client_addrs = match_lines(result.client_stdout, client_lines)
    server_addrs = match_lines(result.server_stdout, server_lines)
    assert result.client_stderr == ""
    if name == "pb2":
        # The root reference printed twice is the same proxy; the Two sent back to the server
        # arrives as the server's own object: all three reprs show one address.
        assert client_addrs[0] == client_addrs[4]
        assert server_addrs[0] == server_addrs[1] == server_addrs[2]
    if name == "exc_broken2":
        check_logged_once(result.server_stderr)
    else:
        # Nothing logged: in particular an expected pb.Error (exc) goes to the caller only.
        assert LISTENING.fullmatch(result.server_stderr), result.server_stderr
    if name == "trap":
        assert result.server_returncode == 0  # it exited by itself after shutdown


def check_logged_once(stderr: str) -> None:
    """broken2's unexpected MyError2 is logged once, as an error, with its traceback."""
    lines = stderr.splitlines()
    assert LISTENING.fullmatch(lines[0] + "\n"), stderr
    assert lines[1].startswith("ERROR pbtyped: "), stderr
    assert "remote_broken2" in lines[1], stderr
    assert lines[2] == "Traceback (most recent call last):", stderr
    assert lines[-1] == "MyError2: hadda owie", stderr
    assert stderr.count("Traceback (most recent call last):") == 1, stderr
    assert stderr.count("ERROR") == 1, stderr


def test_match_lines_rejects_a_different_address_pattern() -> None:
    with pytest.raises(AssertionError):
        match_lines("got one object: <pbtyped.RemoteReference #0 at 0xZZ>", EXPECTED["pb2"][0][:1])
