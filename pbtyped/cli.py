"""The ``pbtyped`` command line."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pbtyped`` command."""
    parser = argparse.ArgumentParser(prog="pbtyped", description="pbtyped tools")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("version", help="print the pbtyped version")
    args = parser.parse_args(argv)
    if args.command == "version":
        from importlib.metadata import version

        print(version("pbtyped"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
