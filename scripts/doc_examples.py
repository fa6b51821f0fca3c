"""The guide's complete programs as files, and what each one must do when run.

The guide (``docs/guide/*.md``) marks its code blocks with HTML comments, which do not show
once the Markdown is rendered. A marker stands on the line right before a fenced block:

``<!-- file: PATH -->``
    The block is the whole file PATH of the guide's project (one folder for every page:
    ``schemas/``, the programs beside it, ``gen/`` made by ``pbtyped generate``).
``<!-- mistakes: PATH -->``
    The same, for a file mypy must refuse: exactly on the lines whose comment says
    ``# error: [code]``, with that error code.
``<!-- excerpt: PATH -->``
    The block shows parts of PATH (a generated file, say) word for word, in order; a line
    that holds only ``...`` stands for lines left out.
``<!-- run: PATH -->``
    The block (a ``text`` block) is exactly what ``python PATH`` prints, line for line; a
    ``…`` in a line stands for any text there (a port number, say).
``<!-- run: PATH against SERVER -->``
    The same, while ``python SERVER 0`` runs: its first line of output must be
    ``listening on port N``, and PATH is run with N as its argument.
``<!-- pytest: PATH -->`` (no block follows)
    ``python -m pytest PATH`` passes.

``tests/docs/test_guide.py`` extracts the files, generates, type-checks and runs them, so the
guide cannot say what the code does not do. ``scripts/demo.sh`` runs the quick start from it.

    python scripts/doc_examples.py extract docs/guide/quickstart.md --into DIR
"""

from __future__ import annotations

import argparse
import enum
import re
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Block",
    "Kind",
    "blocks",
    "excerpt_found",
    "extract",
    "output_matches",
    "unmarked_programs",
]

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guide"

_MARKER = re.compile(r"<!-- (file|mistakes|excerpt|run|pytest): (\S+)(?: against (\S+))? -->\n")
_FENCE = re.compile(r"```(\w*)\n(.*?)^```\n", re.S | re.M)
_ANY_BLOCK = re.compile(r"^```python\n(.*?)^```\n", re.S | re.M)
# What makes a Python block a complete program (which must then be marked and checked).
_PROGRAM = re.compile(r"asyncio\.run\(|pb\.run\(|^if __name__ == ", re.M)


class Kind(enum.Enum):
    """What a marker says about the block after it."""

    FILE = "file"
    MISTAKES = "mistakes"
    EXCERPT = "excerpt"
    RUN = "run"
    PYTEST = "pytest"


@dataclass(frozen=True)
class Block:
    """One marked block: where it is in the guide, what it is, and its text."""

    page: Path
    line: int
    kind: Kind
    path: str
    text: str = ""
    server: str | None = None

    @property
    def where(self) -> str:
        """``page.md:line``, for messages."""
        return f"{self.page.name}:{self.line}"


def blocks(pages: list[Path]) -> list[Block]:
    """Every marked block of ``pages``, in order; ValueError for a marker not where it must be."""
    found: list[Block] = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for marker in _MARKER.finditer(text):
            kind = Kind(marker.group(1))
            line = text.count("\n", 0, marker.start()) + 1
            where = f"{page.name}:{line}"
            if kind is Kind.PYTEST:
                found.append(Block(page, line, kind, marker.group(2)))
                continue
            fence = _FENCE.match(text, marker.end())
            if fence is None:
                raise ValueError(f"{where}: a {kind.value} marker must stand right before a block")
            if kind is Kind.RUN and fence.group(1) != "text":
                raise ValueError(f"{where}: the output of a run is a ```text block")
            server = marker.group(3)
            if server is not None and kind is not Kind.RUN:
                raise ValueError(f"{where}: only a run may name a server")
            found.append(Block(page, line, kind, marker.group(2), fence.group(2), server))
    return found


def unmarked_programs(pages: list[Path]) -> list[str]:
    """``page:line`` of each Python block that looks like a complete program but is not marked
    as a file, so that no program of the guide escapes the tests."""
    unmarked = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for block in _ANY_BLOCK.finditer(text):
            before = text[: block.start()].rstrip("\n").rpartition("\n")[2]
            marked = _MARKER.fullmatch(before + "\n")
            if _PROGRAM.search(block.group(1)) and (
                marked is None or Kind(marked.group(1)) not in (Kind.FILE, Kind.MISTAKES)
            ):
                unmarked.append(f"{page.name}:{text.count(chr(10), 0, block.start()) + 1}")
    return unmarked


def excerpt_found(excerpt: str, text: str) -> bool:
    """True if the parts of ``excerpt`` (between its ``...`` lines) are in ``text``, in order."""
    parts = re.split(r"^[ \t]*\.\.\.[ \t]*\n", excerpt, flags=re.M)
    start = 0
    for part in filter(None, parts):
        start = text.find(part, start)
        if start < 0:
            return False
        start += len(part)
    return True


def output_matches(expected: str, actual: str) -> bool:
    """True if ``actual`` is ``expected`` line for line, each ``…`` standing for any text."""
    want, got = expected.splitlines(), actual.splitlines()
    if len(want) != len(got) or actual.endswith("\n") != expected.endswith("\n"):
        return False
    return all(
        re.fullmatch(".*?".join(map(re.escape, line.split("…"))), seen) is not None
        for line, seen in zip(want, got, strict=True)
    )


def extract(found: list[Block], into: Path) -> list[Path]:
    """Write the files of ``found`` under ``into``; ValueError if a path is given twice or
    leads out of ``into``."""
    written: dict[str, Block] = {}
    paths = []
    for block in found:
        if block.kind not in (Kind.FILE, Kind.MISTAKES):
            continue
        if block.path in written:
            raise ValueError(f"{block.where}: {block.path} is already {written[block.path].where}")
        target = (into / block.path).resolve()
        if not target.is_relative_to(into.resolve()):
            raise ValueError(f"{block.where}: {block.path} leads out of the project")
        written[block.path] = block
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.text, encoding="utf-8")
        paths.append(target)
    return paths


def main(argv: list[str] | None = None) -> int:
    """``extract PAGE... --into DIR``: write the files the pages mark (all pages by default)."""
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("extract", help="write the files marked in the pages")
    cmd.add_argument("pages", nargs="*", type=Path, help="guide pages (default: all)")
    cmd.add_argument("--into", type=Path, required=True, help="the project folder to write")
    args = parser.parse_args(argv)
    pages = args.pages or sorted(GUIDE.glob("*.md"))
    for path in extract(blocks(pages), args.into):
        print(path.relative_to(args.into.resolve()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
