"""``pbtyped serve``'s arguments: limits from the command line, the checks made once in the
supervisor, and loading MODULE:FACTORY."""

from __future__ import annotations

import argparse
import logging
from typing import Any

import pytest

import pbtyped as pb
from pbtyped.serving import supervisor
from pbtyped.serving.config import (
    AppError,
    ExitCode,
    ServeConfig,
    UsageError,
    add_serve_arguments,
    load_root,
    parse_limits,
)
from pbtyped.serving.supervisor import RestartBackoff

from ..support import bounded_run
from . import apps


def config_of(*argv: str) -> ServeConfig:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    return ServeConfig.from_args(parser.parse_args(list(argv)))


def test_defaults_and_a_round_trip_through_json() -> None:
    config = config_of(
        "tests.serving.apps:make",
        "--limit",
        "max_connections=100",
        "--limit",
        "idle-timeout=2.5",
        "--proxy-protocol-from",
        "10.0.0.0/8",
        "--workers",
        "2",
    )
    assert (config.host, config.port, config.grace, config.drain_delay) == (
        "127.0.0.1",
        8750,
        30.0,
        0.0,
    )
    assert config.limits_value() == pb.Limits(max_connections=100, idle_timeout=2.5)
    assert ServeConfig.from_json(config.to_json()) == config
    assert config.ssl_context() is None


def test_limits_are_checked_by_name_type_and_value() -> None:
    assert parse_limits(["strict_map_keys=false", "prelogin_idle_timeout=none"]) == {
        "strict_map_keys": False,
        "prelogin_idle_timeout": None,
    }
    with pytest.raises(UsageError, match="'max_conections=1': no such limit; the limits are"):
        parse_limits(["max_conections=1"])
    with pytest.raises(UsageError, match="max_connections=lots: expected int"):
        parse_limits(["max_connections=lots"])
    with pytest.raises(UsageError, match="handshake_timeout=none: expected float"):
        parse_limits(["handshake_timeout=none"])
    with pytest.raises(UsageError, match="expected NAME=VALUE"):
        parse_limits(["max_connections"])
    with pytest.raises(UsageError, match="--limit: max_connections must be at least 1"):
        config_of("m:f", "--limit", "max_connections=0")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nocolon"], "expected MODULE:FACTORY"),
        (["m:f", "--workers", "0"], "--workers must be at least 1"),
        (["m:f", "--grace", "0"], "--grace must be positive"),
        (["m:f", "--tls-key", "k.pem"], "--tls-key needs --tls-cert"),
        (["m:f", "--tls-client-ca", "ca.pem"], "--tls-client-ca needs --tls-cert"),
        (["m:f", "--proxy-protocol-from", "ten"], "not a CIDR network: 'ten'"),
        (
            ["m:f", "--proxy-protocol-from", "10.0.0.0/8", "--tls-cert", "c.pem"],
            "terminate TLS at the balancer",
        ),
    ],
)
def test_bad_arguments(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        config_of(*argv)


def test_an_unreadable_certificate_is_a_usage_error() -> None:
    config = config_of("m:f", "--tls-cert", "/nonexistent/cert.pem")
    with pytest.raises(UsageError, match=r"TLS: .*No such file"):
        config.ssl_context()


@pytest.mark.parametrize("factory", ["make", "make_async", "make_portal"])
def test_factories_that_load(factory: str) -> None:
    root = bounded_run(lambda: load_root(f"tests.serving.apps:{factory}"))
    assert isinstance(root, pb.Root)
    if factory != "make_portal":
        assert isinstance(root, apps.Service)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("tests.serving.nonexistent:make", "could not import tests.serving.nonexistent"),
        ("tests.serving.apps:absent", "tests.serving.apps has no absent"),
        ("tests.serving.apps:Service.remote_who.x", "has no Service.remote_who.x"),
        (
            "tests.serving.apps:make_failing",
            r"make_failing\(\) raised RuntimeError\('no database'\)",
        ),
        ("tests.serving.apps:make_nothing", r"returned object, not a pbtyped.Root or Portal"),
    ],
)
def test_factories_that_do_not(target: str, message: str) -> None:
    async def body() -> Any:
        return await load_root(target)

    with pytest.raises(AppError, match=message):
        bounded_run(body)


def test_backoff_doubles_then_gives_up_and_forgets_old_crashes() -> None:
    backoff = RestartBackoff(first=0.1, cap=0.3, count=4, window=10.0)
    assert [backoff.crashed(t) for t in (0.0, 1.0, 2.0)] == [0.1, 0.2, 0.3]
    assert backoff.crashed(3.0) is None  # four within ten seconds
    fresh = RestartBackoff(first=0.1, count=3, window=10.0)
    assert [fresh.crashed(t) for t in (0.0, 5.0, 11.0, 22.0)] == [0.1, 0.2, 0.2, 0.1]


def test_a_worker_that_cannot_be_started_counts_as_a_crash(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Out of processes or descriptors: restarts with backoff, then the crash-loop exit."""

    async def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(supervisor.asyncio, "create_subprocess_exec", refuse)
    config = ServeConfig(target="tests.serving.apps:make", port=0)
    backoff = RestartBackoff(first=0.01, count=3)
    with caplog.at_level(logging.WARNING, "pbtyped.serve"):
        code = bounded_run(lambda: supervisor.Supervisor(config, backoff).run())
    assert code == ExitCode.CRASH_LOOP
    messages = [record.getMessage() for record in caplog.records]
    failure = "worker could not be started ([Errno 11] Resource temporarily unavailable)"
    assert messages == [
        f"{failure}; restarting it in 0.0 s",
        f"{failure}; restarting it in 0.0 s",
        f"{failure}; crash loop, giving up: stopping (exit status 5)",
    ]
