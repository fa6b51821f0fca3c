"""scripts/doc_examples.py: what its markers mean, and the mistakes it refuses to let pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.doc_examples import Kind, blocks, excerpt_found, extract, unmarked_programs

PROGRAM = "```python\nimport asyncio\n\nasyncio.run(main())\n```\n"


def _page(tmp_path: Path, text: str) -> Path:
    page = tmp_path / "page.md"
    page.write_text(text, encoding="utf-8")
    return page


def test_markers_name_their_blocks(tmp_path: Path) -> None:
    page = _page(
        tmp_path,
        "# Page\n\n<!-- file: a.py -->\n" + PROGRAM + "\n<!-- run: a.py against s.py -->\n"
        "```text\nhi\n```\n\n<!-- pytest: test_a.py -->\n",
    )
    found = blocks([page])
    assert [(b.kind, b.path, b.line) for b in found] == [
        (Kind.FILE, "a.py", 3),
        (Kind.RUN, "a.py", 10),
        (Kind.PYTEST, "test_a.py", 15),
    ]
    assert found[1].text == "hi\n"
    assert found[1].server == "s.py"


def test_a_program_without_a_file_marker_is_reported(tmp_path: Path) -> None:
    page = _page(tmp_path, "Text.\n\n" + PROGRAM + "\n<!-- file: b.py -->\n" + PROGRAM)
    assert unmarked_programs([page]) == ["page.md:3"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- file: a.py -->\nText.\n", "must stand right before a block"),
        ("<!-- run: a.py -->\n" + PROGRAM, r"the output of a run is a ```text block"),
        ("<!-- file: a.py against b.py -->\n" + PROGRAM, "only a run may name a server"),
    ],
)
def test_misplaced_markers_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        blocks([_page(tmp_path, text)])


@pytest.mark.parametrize(
    ("second", "message"), [("a.py", "is already page.md:1"), ("../c.py", "leads out")]
)
def test_extract_refuses_a_path_twice_or_outside(tmp_path: Path, second: str, message: str) -> None:
    page = _page(tmp_path, f"<!-- file: a.py -->\n{PROGRAM}<!-- file: {second} -->\n{PROGRAM}")
    with pytest.raises(ValueError, match=message):
        extract(blocks([page]), tmp_path / "project")


def test_an_excerpt_is_found_in_order_only() -> None:
    text = "class A:\n    x = 1\n    y = 2\n    z = 3\n"
    assert excerpt_found("class A:\n...\n    z = 3\n", text)
    assert not excerpt_found("    z = 3\n...\nclass A:\n", text)
    assert not excerpt_found("    w = 4\n", text)
