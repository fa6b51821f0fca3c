"""The model rendered through the Jinja2 templates in ``codegen/templates``."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

from .model import Module, Package

__all__ = ["render_module", "render_package", "template_dir"]


def template_dir() -> Path:
    """Where the templates are: inside the installed package, or in the source checkout."""
    installed = Path(__file__).with_name("templates")
    if installed.is_dir():
        return installed
    checkout = Path(__file__).resolve().parents[2] / "codegen" / "templates"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError("pbtyped's code templates are missing from this installation")


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir()),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_module(module: Module) -> str:
    """The generated Python module for one schema module."""
    return _environment().get_template("module.py.jinja").render(module=module)


def render_package(package: Package) -> str:
    """The generated package's ``__init__.py``."""
    return _environment().get_template("package_init.py.jinja").render(package=package)
