"""Dataclass field defaults: what the generated classes hold, and that the wire ignores them.

The every-type schema's ``Basket`` covers ``field(default=...)`` and each kind of factory in the
golden, type and round-trip tests; these pin what those do not.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import cbor2

import pbtyped as pb
from pbtyped.codegen import generate
from pbtyped.wire import tags
from pbtyped.wire.codec import Codec

from .conftest import import_generated

OTHER = (
    "from dataclasses import dataclass\n\n\n"
    "@dataclass(frozen=True)\nclass Note:\n    text: str = ''\n"
)


def test_factories_of_sibling_modules_however_imported(tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    (schemas / "other.py").write_text(OTHER, encoding="utf-8")
    (schemas / "box.py").write_text(
        "import dataclasses\nfrom dataclasses import dataclass\n\nimport other\n"
        "from . import other as again\n\n\n"
        "@dataclass(kw_only=True)\nclass Box:\n"
        "    first: other.Note = dataclasses.field(default_factory=other.Note)\n"
        "    second: again.Note | None = dataclasses.field(default_factory=again.Note)\n"
        "    required: int\n",
        encoding="utf-8",
    )
    files = generate(schemas)
    assert (
        "from .other import REGISTRY as _REGISTRY_other\nfrom .other import Note\n"
        in (files["box.py"])
    )
    assert "    first: Note = dataclasses.field(default_factory=Note)\n" in files["box.py"]
    box = import_generated(files, tmp_path / "out", "schemas_fd.box")
    note = import_generated(files, tmp_path / "out", "schemas_fd.other").Note
    # kw_only: a field without a default may follow those with one.
    made = box.Box(required=1)
    assert made == box.Box(first=note(), second=note(), required=1)
    assert made.first is not box.Box(required=2).first


class _NoRefs:
    def encode_reference(self, obj: Any) -> cbor2.CBORTag | None:
        return None

    def decode_sender_ref(self, export_id: Any) -> Any:
        raise pb.DecodeError("no references here")

    def decode_receiver_ref(self, export_id: Any) -> Any:
        raise pb.DecodeError("no references here")


def test_a_field_with_a_default_is_always_sent(agen: Path) -> None:
    """A default only builds an object in Python: COPY carries every field, and a receiver
    fills in no default for a field left out (docs/protocol.md, 4.4 and 4.6)."""
    from agen import alltypes

    codec = Codec(alltypes.REGISTRY, pb.Limits(), _NoRefs())
    basket = alltypes.Basket()
    frame = codec.encode(basket)
    copy = cbor2.loads(frame[8:])
    names = [f.name for f in dataclasses.fields(basket)]
    assert copy.tag == tags.COPY
    assert copy.value[0] == "alltypes.Basket"
    assert len(copy.value[1]) == len(names) == 7
    assert codec.decode(frame[8:]) == (basket, None)
    short = cbor2.dumps(cbor2.CBORTag(tags.COPY, ["alltypes.Basket", copy.value[1][:-1]]))
    _, problem = codec.decode(short)
    assert problem == f"alltypes.Basket: expected 7 field values ({', '.join(names)})"


def test_kw_only_lets_a_required_field_follow_a_default(tmp_path: Path) -> None:
    """Without kw_only the generator refuses the order (test_bad_schemas), as Python's
    dataclasses would when the generated class is made; with it, the class works."""
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    (schemas / "one.py").write_text(
        "from dataclasses import dataclass\n\n@dataclass(kw_only=True)\n"
        "class Box:\n    n: int = 1\n    m: int\n",
        encoding="utf-8",
    )
    one = import_generated(generate(schemas), tmp_path / "out", "schemas_order.one")
    assert one.Box(m=2) == one.Box(n=1, m=2)
