"""The generator's small types: qualified names, and what a generated module imports and
exports, derived from its model."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbtyped.codegen import SchemaError, generate
from pbtyped.codegen.model import Module, SiblingClass
from pbtyped.codegen.names import ClassKind, Origin, QualName


def test_attributes_of_the_folder_a_module_and_a_python_name() -> None:
    folder = QualName.sibling()  # ``from . import b``
    assert folder.attr("b") == QualName.sibling("b")
    assert folder.attr("b").attr("Item") == QualName.sibling("b.Item")
    assert QualName.python("typing").attr("Protocol") == QualName.python("typing.Protocol")


def test_module_and_name_by_origin() -> None:
    cases = {
        QualName.sibling("b.Item"): ("b", "Item"),
        QualName.sibling("b"): ("b", ""),
        QualName.local("Item"): ("", "Item"),
        QualName.python("typing.Protocol"): ("", "typing.Protocol"),
    }
    assert {q: (q.module, q.name) for q in cases} == cases


def test_origin_is_part_of_the_name() -> None:
    # A local class named like a Python name is another name (dict keys of a scope).
    assert QualName.local("Enum") != QualName.python("Enum")
    assert QualName.local("Enum").origin is Origin.LOCAL
    assert len({QualName.sibling("b.Item"), QualName.sibling("b").attr("Item")}) == 1


def test_what_a_sibling_class_brings_in() -> None:
    def imported(kind: ClassKind, extended: bool) -> tuple[str, ...]:
        return SiblingClass(module="b", name="Tag", kind=kind, extended=extended).imported

    assert imported(ClassKind.COPY, False) == ("Tag",)
    assert imported(ClassKind.ENUM, False) == ("Tag",)
    assert imported(ClassKind.INTERFACE, False) == ("TagClient", "TagServer")
    extended = ("TagClient", "TagServer", "TagSyncClient", "_SPEC_Tag", "_TagCalls")
    assert imported(ClassKind.INTERFACE, True) == extended


def test_imports_grouped_by_module_in_isort_order() -> None:
    siblings = (
        SiblingClass(module="zeta", name="Zed", kind=ClassKind.COPY, extended=False),
        SiblingClass(module="b10", name="Item", kind=ClassKind.ENUM, extended=False),
        SiblingClass(module="b2", name="Tagger", kind=ClassKind.INTERFACE, extended=True),
        SiblingClass(module="b2", name="ID", kind=ClassKind.COPY, extended=False),
    )
    module = Module(
        name="one",
        source="schemas/one.py",
        enums=(),
        copy_types=(),
        errors=(),
        interfaces=(),
        siblings=siblings,
    )
    assert [(i.module, i.names, i.registry_alias) for i in module.imports] == [
        (
            "b2",
            (
                "ID",
                "TaggerClient",
                "TaggerServer",
                "TaggerSyncClient",
                "_SPEC_Tagger",
                "_TaggerCalls",
            ),
            "_REGISTRY_b2",
        ),
        ("b10", ("Item",), "_REGISTRY_b10"),
        ("zeta", ("Zed",), "_REGISTRY_zeta"),
    ]
    assert module.exports == ("REGISTRY",)
    assert (module.stdlib_imports, module.abc_names, module.typing_names) == ((), (), ())


def test_a_sibling_class_named_two_ways_is_imported_once(tmp_path: Path) -> None:
    (tmp_path / "extra.py").write_text(
        "from dataclasses import dataclass\n\n\n@dataclass\nclass Tag:\n    name: str\n",
        encoding="utf-8",
    )
    (tmp_path / "one.py").write_text(
        "from typing import Protocol\n\nimport extra\nfrom extra import Tag\n\n\n"
        "class One(Protocol):\n    def f(self, a: Tag, b: extra.Tag) -> 'extra.Tag': ...\n",
        encoding="utf-8",
    )
    text = generate(tmp_path)["one.py"]
    assert text.count("from .extra import ") == 2  # the registry, then Tag
    assert "from .extra import Tag\n" in text
    assert "        a: pb.Promised[Tag],\n        b: pb.Promised[Tag],\n" in text


def test_a_sibling_blocking_stub_is_imported_where_a_blocking_stub_names_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "extra.py").write_text(
        "from typing import Protocol\n\n\nclass Zed(Protocol):\n    def z(self) -> None: ...\n",
        encoding="utf-8",
    )
    one = "from typing import Protocol\n\nfrom extra import Zed\n\n\nclass One(Protocol):\n"
    # Inside a container a reference is the async stub, also in the blocking stub.
    (tmp_path / "one.py").write_text(one + "    def f(self) -> list[Zed]: ...\n")
    text = generate(tmp_path)["one.py"]
    assert "from .extra import ZedClient, ZedServer\n" in text
    assert "    def f(self, *, pb_timeout: float | None = None) -> list[ZedClient]:\n" in text
    # At the top level of a parameter or a result it is the blocking stub there.
    (tmp_path / "one.py").write_text(one + "    def f(self, z: Zed | None) -> None: ...\n")
    text = generate(tmp_path)["one.py"]
    assert "from .extra import ZedClient, ZedServer, ZedSyncClient\n" in text
    assert "        z: ZedClient | ZedServer | ZedSyncClient | None,\n" in text


def test_a_name_generated_here_and_imported_for_a_sibling_is_a_schema_error(
    tmp_path: Path,
) -> None:
    """A generated module must not both define and import a name, nor import one name for
    two siblings: each would hide the other (the generated code was broken). Each clash is
    reported where this module declares the name, else at the second sibling's import."""
    (tmp_path / "extra.py").write_text(
        "from typing import Protocol\n\n\nclass Zed(Protocol):\n    def z(self) -> None: ...\n",
        encoding="utf-8",
    )
    (tmp_path / "two.py").write_text(
        "from dataclasses import dataclass\n\n\n@dataclass\nclass ZedClient:\n    n: int\n",
        encoding="utf-8",
    )
    (tmp_path / "one.py").write_text(
        "from dataclasses import dataclass\nfrom typing import Protocol\n\nfrom extra import Zed\n"
        "\n\nclass ZedSync(Protocol):\n    def y(self) -> None: ...\n\n\n"
        "@dataclass\nclass ZedServer:\n    n: int\n\n\n"
        "class One(Protocol):\n    def f(self, z: Zed | None) -> None: ...\n",
        encoding="utf-8",
    )
    (tmp_path / "three.py").write_text(
        "from typing import Protocol\n\nfrom extra import Zed\nfrom two import ZedClient\n\n\n"
        "class Three(Protocol):\n    def f(self, z: list[Zed], c: ZedClient) -> None: ...\n",
        encoding="utf-8",
    )
    with pytest.raises(SchemaError) as info:
        generate(tmp_path)
    s = tmp_path.name
    assert str(info.value).splitlines() == [
        f"{s}/one.py:7: name clash: ZedSyncClient is generated for interface ZedSync, and also "
        "imported for extra.Zed: rename one of them",
        f"{s}/one.py:12: name clash: ZedServer is declared here, and also imported for "
        "extra.Zed: rename one of them",
        f"{s}/three.py:4: name clash: ZedClient is imported for extra.Zed, and also imported for "
        "two.ZedClient: rename one of them",
    ]
