"""docs/deploy.md states what the code does: the HAProxy configuration is the file the
balancer check runs, and the exit statuses and options are those of ``pbtyped serve``."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from pbtyped.serving.config import ExitCode, add_serve_arguments

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "deploy.md").read_text()


def test_the_haproxy_configuration_is_the_tested_file() -> None:
    block = re.search(r"```haproxy\n(.*?)```", PAGE, re.S)
    assert block is not None
    assert block[1] == (ROOT / "scripts" / "balancer" / "haproxy.cfg").read_text()


def test_every_exit_status_is_listed() -> None:
    listed = {int(code) for code in re.findall(r"^\| (\d) \|", PAGE, re.M)}
    assert listed == {int(code) for code in ExitCode}


def test_every_option_is_listed() -> None:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    options = {
        option for action in parser._actions for option in action.option_strings if option != "-h"
    }
    table = PAGE[PAGE.index("| option | meaning |") :]
    table = table[: table.index("\n\n")]
    assert options - {"--help"} == set(re.findall(r"`(--[a-z-]+)", table))
