"""Shared fixtures: the repository root on sys.path (for ``gen`` and ``examples``), and the
every-type schema generated once into a temporary package ``agen``."""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from pbtyped.codegen import SchemaError, generate

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# A schema of one interface, for tests that are about folders and files rather than schemas.
ECHO = (
    "from typing import Protocol\n\n\n"
    "class Echoer(Protocol):\n"
    "    def echo(self, st: str) -> str: ...\n"
)


def schema_folder(folder: Path) -> Path:
    """A schema folder holding ``echo.py``."""
    folder.mkdir(parents=True)
    (folder / "echo.py").write_text(ECHO, encoding="utf-8")
    return folder


def tool(name: str) -> str | None:
    """A command-line tool installed beside this Python, else on PATH."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else shutil.which(name)


def write_package(files: dict[str, str], target: Path) -> None:
    """Write generated files into the package directory ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (target / name).write_text(text, encoding="utf-8")


def import_generated(files: dict[str, str], base: Path, name: str) -> ModuleType:
    """Write ``files`` as the package of module ``name`` (``package.module``) in ``base``, then
    import that module."""
    write_package(files, base / name.partition(".")[0])
    sys.path.insert(0, str(base))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(base))


def schema_error(tmp_path: Path, source: str) -> str:
    """The message ``pbtyped generate`` gives for a schema dir holding ``bad/one.py``."""
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "one.py").write_text(source, encoding="utf-8")
    with pytest.raises(SchemaError) as info:
        generate(bad)
    return str(info.value)


@pytest.fixture(scope="session")
def agen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the generated package ``agen`` (importable once on sys.path)."""
    base = tmp_path_factory.mktemp("agen")
    write_package(generate(HERE / "alltypes"), base / "agen")
    sys.path.insert(0, str(base))
    return base
