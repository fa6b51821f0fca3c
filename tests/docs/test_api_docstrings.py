"""Every public name of the API reference says what it is: the names ``pbtyped``,
``pbtyped.sync`` and ``pbtyped.cred`` export, and their public members, have a docstring or
a ``#:`` comment (read as the docs build reads them, with ``scripts/griffe_comments.py``)."""

from __future__ import annotations

import pytest

griffe = pytest.importorskip("griffe")

from scripts.griffe_comments import CommentDocstrings  # noqa: E402

#: asyncio calls these (``asyncio.Protocol``'s interface), never the user.
PROTOCOL_CALLBACKS = {
    "connection_made",
    "connection_lost",
    "data_received",
    "eof_received",
    "pause_writing",
    "resume_writing",
}


def undocumented(module_name: str) -> list[str]:
    loader = griffe.GriffeLoader(extensions=griffe.load_extensions(CommentDocstrings()))
    module = loader.load(module_name)
    loader.resolve_aliases(implicit=False, external=False)
    found = []
    for name in module.exports or ():
        obj = module[name].final_target if module[name].is_alias else module[name]
        if not obj.docstring:
            found.append(name)
        if not obj.is_class:
            continue
        for member_name, member in obj.all_members.items():
            if member_name.startswith("_") or member_name in PROTOCOL_CALLBACKS:
                continue
            try:
                target = member.final_target if member.is_alias else member
            except griffe.AliasResolutionError:
                continue  # from outside pbtyped (asyncio, enum, ...): documented there
            if target.path.startswith("pbtyped.") and not target.docstring:
                found.append(f"{name}.{member_name}")
    return found


@pytest.mark.parametrize("module_name", ["pbtyped", "pbtyped.sync", "pbtyped.cred"])
def test_every_public_name_is_documented(module_name: str) -> None:
    assert undocumented(module_name) == []
