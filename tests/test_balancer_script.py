"""scripts/balancer_check.py installs HAProxy when it is missing and fails loudly when it
cannot (CI must never skip the balancer check silently). apt-get is stood in for."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from scripts import balancer_check


def stand_in(
    monkeypatch: pytest.MonkeyPatch, *, uid: int, apt_status: int, found_after: bool
) -> list[list[str]]:
    ran: list[list[str]] = []
    installed = [False]

    def run(argv: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        ran.append(argv)
        if "install" in argv and apt_status == 0:
            installed[0] = True
        return subprocess.CompletedProcess(argv, apt_status, "", "E: Unable to locate package")

    def which(name: str) -> str | None:
        return "/usr/sbin/haproxy" if installed[0] and found_after else None

    monkeypatch.setattr(balancer_check.shutil, "which", which)
    monkeypatch.setattr(balancer_check.subprocess, "run", run)
    monkeypatch.setattr(balancer_check.os, "geteuid", lambda: uid)
    return ran


def test_installs_with_sudo_when_not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    ran = stand_in(monkeypatch, uid=1000, apt_status=0, found_after=True)
    assert balancer_check.ensure_haproxy() == "/usr/sbin/haproxy"
    assert ran == [
        ["sudo", "-n", "apt-get", "update", "-q"],
        ["sudo", "-n", "apt-get", "install", "-y", "-q", "haproxy"],
    ]


def test_a_failed_install_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    ran = stand_in(monkeypatch, uid=0, apt_status=100, found_after=True)
    with pytest.raises(SystemExit, match=r"FAIL: could not install haproxy \(apt-get update"):
        balancer_check.ensure_haproxy()
    assert ran == [["apt-get", "update", "-q"]]


def test_an_install_that_leaves_no_binary_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    stand_in(monkeypatch, uid=0, apt_status=0, found_after=False)
    with pytest.raises(SystemExit, match="FAIL: apt-get installed haproxy, yet no haproxy"):
        balancer_check.ensure_haproxy()
