"""What ``pbtyped serve`` is told: its command-line arguments, read and checked once.

The supervisor reads the arguments into a ``ServeConfig``; each worker gets the same value
as JSON, so both check and use the very same settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import importlib
import inspect
import json
import ssl
import sys
from dataclasses import dataclass, field
from typing import Any

from ..protocol.objects import Root
from ..wire.limits import Limits
from ..wire.proxy import ProxyPolicy

__all__ = [
    "AppError",
    "ExitCode",
    "ServeConfig",
    "UsageError",
    "add_serve_arguments",
    "load_root",
]


class ExitCode(enum.IntEnum):
    """The exit status of ``pbtyped serve`` (docs/deploy.md lists them)."""

    #: Drained cleanly after SIGTERM or SIGINT.
    OK = 0
    #: A worker did not stop within the grace period and was killed.
    UNCLEAN = 1
    #: Bad command-line arguments (argparse's own status for them).
    USAGE = 2
    #: The application could not be loaded: the module failed to import, the factory is
    #: missing, raised, or returned neither a Root nor a Portal.
    APP = 3
    #: The address could not be listened on (in use, no permission, no such address).
    LISTEN = 4
    #: Workers kept crashing (``CRASH_LOOP_COUNT`` crashes within ``CRASH_LOOP_WINDOW``).
    CRASH_LOOP = 5


class UsageError(ValueError):
    """An argument that argparse's types cannot check alone (a limit, a TLS file...)."""


class AppError(Exception):
    """The application named by MODULE:FACTORY could not be loaded."""


@dataclass(frozen=True, kw_only=True)
class ServeConfig:
    """The settings of one ``pbtyped serve`` instance (see ``add_serve_arguments``)."""

    target: str
    host: str = "127.0.0.1"
    port: int = 8750
    workers: int = 1
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    limits: dict[str, Any] = field(default_factory=dict)
    log_level: str = "INFO"
    grace: float = 30.0
    drain_delay: float = 0.0
    health_host: str | None = None
    health_port: int | None = None
    proxy_protocol_from: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if ":" not in self.target:
            raise UsageError(f"expected MODULE:FACTORY, got {self.target!r}")
        if self.workers < 1:
            raise UsageError("--workers must be at least 1")
        if self.workers > 1 and not sys.platform.startswith("linux"):
            raise UsageError("--workers above 1 needs SO_REUSEPORT's balancing (Linux only)")
        if not self.grace > 0 or self.drain_delay < 0:
            raise UsageError("--grace must be positive and --drain-delay not negative")
        if self.tls_key is not None and self.tls_cert is None:
            raise UsageError("--tls-key needs --tls-cert")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise UsageError("--tls-client-ca needs --tls-cert")
        if self.proxy_protocol_from:
            if self.tls_cert is not None:
                raise UsageError(
                    "--proxy-protocol-from with --tls-cert is not supported: terminate TLS "
                    "at the balancer"
                )
            try:
                ProxyPolicy(self.proxy_protocol_from)
            except ValueError as exc:
                raise UsageError(f"--proxy-protocol-from: {exc}") from None
        self.limits_value()  # a wrong value is a usage error now, not in every worker

    def limits_value(self) -> Limits:
        """The ``Limits`` the workers serve with."""
        try:
            return Limits(**self.limits)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"--limit: {exc}") from None

    def ssl_context(self) -> ssl.SSLContext | None:
        """The server's TLS context, or None without ``--tls-cert``."""
        if self.tls_cert is None:
            return None
        from ..cred.tls import server_context

        try:
            return server_context(self.tls_cert, self.tls_key, client_ca=self.tls_client_ca)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"TLS: {exc}") from None

    def to_json(self) -> str:
        """This configuration as a worker receives it."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        """The configuration ``to_json`` wrote."""
        values = json.loads(text)
        values["proxy_protocol_from"] = tuple(values["proxy_protocol_from"])
        return cls(**values)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ServeConfig:
        """The configuration the parsed ``pbtyped serve`` arguments describe."""
        special = ("limits", "proxy_protocol_from")
        values = {
            f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if f.name not in special
        }
        return cls(
            **values,
            limits=parse_limits(args.limit),
            proxy_protocol_from=tuple(args.proxy_protocol_from),
        )


def parse_limits(items: list[str]) -> dict[str, Any]:
    """``["max_connections=100", "idle_timeout=none"]`` as keyword arguments of Limits,
    each checked against the field's name and type."""
    fields = {f.name: str(f.type) for f in dataclasses.fields(Limits)}
    values: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep:
            raise UsageError(f"--limit {item!r}: expected NAME=VALUE")
        if name not in fields:
            raise UsageError(
                f"--limit {item!r}: no such limit; the limits are {', '.join(sorted(fields))}"
            )
        values[name] = _limit_value(name, fields[name], text.strip())
    return values


def _limit_value(name: str, kind: str, text: str) -> Any:
    if "None" in kind and text.lower() in ("none", "off"):
        return None
    try:
        if kind.startswith("bool"):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes", "on")
        if kind.startswith("int"):
            return int(text)
        return float(text)
    except ValueError:
        raise UsageError(f"--limit {name}={text}: expected {kind}") from None


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``pbtyped serve``."""
    parser.add_argument(
        "target",
        metavar="MODULE:FACTORY",
        help="a callable returning the root (a pbtyped.Root) or a Portal, or an awaitable of one; "
        "MODULE is imported with the current directory on sys.path",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8750, help="TCP port (8750; 0: any free one)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the port through SO_REUSEPORT (1)",
    )
    parser.add_argument("--tls-cert", help="PEM certificate chain: serve TLS")
    parser.add_argument("--tls-key", help="PEM private key (if not in --tls-cert)")
    parser.add_argument("--tls-client-ca", help="PEM CAs: require client certificates (mTLS)")
    parser.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a pbtyped.Limits field, e.g. --limit max_connections=4096 (repeatable; "
        "'none' for an optional timeout)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="INFO",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=30.0,
        help="seconds calls in flight get to finish on SIGTERM/SIGINT (30)",
    )
    parser.add_argument(
        "--drain-delay",
        type=float,
        default=0.0,
        help="seconds the health endpoint says 'draining' before the workers stop accepting, "
        "so balancers take the instance out first (0; set it above the health check interval)",
    )
    parser.add_argument("--health-port", type=int, help="serve GET /health on this port")
    parser.add_argument("--health-host", help="address of the health endpoint (--host)")
    parser.add_argument(
        "--proxy-protocol-from",
        action="append",
        default=[],
        metavar="CIDR",
        help="accept a PROXY protocol v2 header from these balancer addresses only (repeatable)",
    )


async def load_root(target: str) -> Root:
    """Import MODULE, call FACTORY (awaiting what it returns if need be): the root to serve.

    AppError says what went wrong; the exception that caused it is its ``__cause__``.
    """
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise AppError(f"could not import {module_name}: {exc!r}") from exc
    factory: Any = module
    for part in attribute.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise AppError(f"{module_name} has no {attribute}")
    if not callable(factory):
        raise AppError(f"{target} is not callable")
    try:
        made = factory()
        if inspect.isawaitable(made):
            made = await made
    except Exception as exc:
        raise AppError(f"{target}() raised {exc!r}") from exc
    from ..cred.portal import Portal

    if isinstance(made, Portal):
        made = made.root()
    if not isinstance(made, Root):
        raise AppError(f"{target}() returned {type(made).__name__}, not a pbtyped.Root or Portal")
    return made
