"""The ``pbtyped`` command line."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .codegen.output import Output

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pbtyped`` command."""
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "health":
        return _health(args.address, args.timeout)
    if args.command == "certs":
        return _certs(args.directory, force=args.force, days=args.days)
    if args.command == "version":
        print(_version())
        return 0
    return _generate(args.schema_dir, args.out, check=args.check)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pbtyped", description="pbtyped tools")
    parser.add_argument(
        "--version", action="version", version=f"pbtyped {_version()}", help="print the version"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("version", help="print the pbtyped version")
    gen = sub.add_parser(
        "generate", help="generate typed stubs and skeletons from a directory of schemas"
    )
    gen.add_argument("schema_dir", type=Path, help="directory of schema modules (*.py)")
    gen.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output package directory (default: gen/ beside SCHEMA_DIR, refused if links "
        "lead it out of the folder holding SCHEMA_DIR); only files it generated are replaced",
    )
    gen.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 and show a diff if the output is stale",
    )
    certs = sub.add_parser(
        "certs", help="write a development CA and TLS certificates for localhost"
    )
    certs.add_argument(
        "directory",
        type=Path,
        help="where to write ca.pem, server.pem, server.key, client.pem and client.key "
        "(created if missing)",
    )
    certs.add_argument("--force", action="store_true", help="replace those files if they exist")
    certs.add_argument(
        "--days", type=int, default=365, help="how long the certificates are valid (default 365)"
    )
    serve = sub.add_parser(
        "serve",
        help="serve MODULE:FACTORY in supervised worker processes (see docs/deploy.md)",
        description="Serve the root that MODULE:FACTORY makes. Exit status: 0 drained, "
        "1 a worker had to be killed, 2 bad arguments, 3 the application failed to load, "
        "4 cannot listen, 5 crash loop.",
    )
    from .serving.config import add_serve_arguments

    add_serve_arguments(serve)
    health = sub.add_parser(
        "health", help="probe a 'pbtyped serve --health-port' endpoint: exit 0 if serving"
    )
    health.add_argument("address", metavar="HOST:PORT", help="the health endpoint")
    health.add_argument("--timeout", type=float, default=5.0, help="seconds (5)")
    return parser


def _generate(schema_dir: Path, out: Path | None, *, check: bool) -> int:
    from .codegen import OutputError, SchemaErrors, generate
    from .codegen.output import Output, default_out

    try:
        output = Output(out if out is not None else default_out(schema_dir), generate(schema_dir))
        stale = output.check()
    except SchemaErrors as exc:
        for error in exc.errors:
            print(f"error: {_shown(str(error))}", file=sys.stderr)
        count = len(exc.errors)
        print(
            f"{count} schema error{'s' if count > 1 else ''}: nothing was written", file=sys.stderr
        )
        return 2
    except OutputError as exc:
        print(f"error: {_shown(str(exc))}", file=sys.stderr)
        return 2
    if check:
        return _check(output, stale)
    output.write(stale)
    print(f"generated {len(output.files)} files in {_shown(str(output.out))}")
    return 0


def _check(output: Output, stale: list[str]) -> int:
    differs = False
    folder = _shown(output.out.name)
    for name, text in output.files.items():
        old = output.on_disk(name)
        if old != text:
            differs = True
            diff = difflib.unified_diff(
                old.splitlines(keepends=True),
                text.splitlines(keepends=True),
                f"{folder}/{name} (on disk)",
                f"{folder}/{name} (generated)",
            )
            sys.stdout.writelines(_shown(line.rstrip("\n")) + "\n" for line in diff)
    for name in stale:
        differs = True
        print(f"{folder}/{_shown(name)}: generated from a schema that no longer exists")
    if differs:
        print("generated code is stale: run pbtyped generate", file=sys.stderr)
        return 1
    print(f"{len(output.files)} generated files in {_shown(str(output.out))} are up to date")
    return 0


def _certs(directory: Path, *, force: bool, days: int) -> int:
    try:
        from .cred.devcerts import write_dev_certificates

        written = write_dev_certificates(directory, force=force, days=days)
    except (ModuleNotFoundError, OSError, ValueError) as exc:
        # Without the certs extra, the import says which package to install.
        print(f"error: {_shown(str(exc))}", file=sys.stderr)
        return 2
    print(written.usage(), end="")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .serving.config import ServeConfig, UsageError
    from .serving.supervisor import main as supervise
    from .serving.worker import set_up_logging

    try:
        config = ServeConfig.from_args(args)
        config.ssl_context()  # unreadable files fail here, once
    except UsageError as exc:
        print(f"error: {_shown(str(exc))}", file=sys.stderr)
        return 2
    set_up_logging(config.log_level)
    return supervise(config)


def _health(address: str, timeout: float) -> int:
    from .serving.health import parse_address, probe

    try:
        host, port = parse_address(address)
    except ValueError as exc:
        print(f"error: {_shown(str(exc))}", file=sys.stderr)
        return 2
    healthy, text = probe(host, port, timeout)
    print(_shown(text))
    return 0 if healthy else 1


def _version() -> str:
    from importlib.metadata import version

    return version("pbtyped")


def _shown(text: str) -> str:
    # Paths and files come from the repository: no control character (a newline, a carriage
    # return, a terminal escape) reaches the terminal as it is, so none can hide or fake a line.
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


if __name__ == "__main__":
    sys.exit(main())
