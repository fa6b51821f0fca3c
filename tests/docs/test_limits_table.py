"""The guide's table of ``pb.Limits`` is the one the code makes (scripts/limits_table.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import pbtyped as pb
from scripts import limits_table

ROOT = Path(__file__).resolve().parents[2]


def test_the_page_shows_the_table_of_the_code() -> None:
    table = limits_table.render(limits_table.fields(limits_table.SOURCE.read_text()))
    page = limits_table.PAGE.read_text(encoding="utf-8")
    assert limits_table.replace_table(page, table) == page, (
        "docs/guide/limits.md is stale: run python scripts/limits_table.py --write"
    )


def test_every_field_is_a_row_with_its_real_default() -> None:
    rows = limits_table.fields(limits_table.SOURCE.read_text())
    real = dataclasses.fields(pb.Limits)
    assert [row.name for row in rows] == [field.name for field in real]
    for row, field in zip(rows, real, strict=True):
        assert eval(row.default) == field.default, row.name


def test_a_field_without_a_comment_is_refused() -> None:
    source = "class Limits:\n    #: Documented.\n    a: int = 1\n    b: int = 2\n"
    assert [f.name for f in limits_table.fields(source[: source.index("    b")])] == ["a"]
    with pytest.raises(ValueError, match=r"Limits\.b has no #: comment"):
        limits_table.fields(source)


def test_a_page_without_the_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="marker lines"):
        limits_table.replace_table("# Limits\n", "| table |\n")
