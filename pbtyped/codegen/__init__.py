"""``pbtyped generate``: typed client stubs and server skeletons from Protocol schemas.

Stages: ``parse`` (schema syntax trees, never imported) → ``model`` (frozen dataclasses) →
``render`` (Jinja2 templates whose output is already formatted).
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import OutputError, SchemaError, SchemaErrors
from .layout import safe_text
from .model import Package
from .parse import parse_dir
from .render import render_module, render_package

__all__ = ["OutputError", "SchemaError", "SchemaErrors", "generate"]


def generate(schema_dir: Path) -> dict[str, str]:
    """Every generated file for ``schema_dir``: ``{file name: text}``, deterministic.

    Raises SchemaErrors, every ``file:line: why`` sorted by file and line, for schemas that
    cannot be compiled.
    """
    # The folder is named as the user gave it (not where a symbolic link leads), and only
    # through ``safe_text``: its name is any text the repository chose.
    display = safe_text(Path(os.path.abspath(schema_dir)).name) or "schemas"
    if not schema_dir.is_dir():
        raise SchemaErrors([SchemaError(str(schema_dir), 0, "not a directory")])
    modules = parse_dir(schema_dir, display)
    files = {"__init__.py": render_package(Package(source=display))}
    for module in modules:
        files[f"{module.name}.py"] = render_module(module)
    return files
