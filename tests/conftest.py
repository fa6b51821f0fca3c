"""Fixtures for every test folder."""

from __future__ import annotations

from typing import Any

import pytest

from pbtyped.protocol.broker import Broker

from .support import Runner, bounded_run


@pytest.fixture
def run() -> Runner:
    """``run(body, limit=20.0)``: run an async test body, failing it after ``limit`` seconds."""
    return bounded_run


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The methods of the calls made on any connection while the test runs, in order."""
    names: list[str] = []
    send_call = Broker.send_call

    def recording(self: Broker, target: Any, method: str, *rest: Any) -> Any:
        names.append(method)
        return send_call(self, target, method, *rest)

    monkeypatch.setattr(Broker, "send_call", recording)
    return names
