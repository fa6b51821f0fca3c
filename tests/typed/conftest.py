"""The hostile schema (``hostile/``: one method per construct) generated once into a temporary
package, and a codec that carries its values the way a peer's bytes would."""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path
from typing import Any

import cbor2
import pytest

import pbtyped as pb
from pbtyped.codegen import generate
from pbtyped.wire import tags
from pbtyped.wire.codec import Codec

HERE = Path(__file__).resolve().parent
PACKAGE = "typed_hostile_gen"
ALLTYPES = "typed_alltypes_gen"


class HomeRefs:
    """References for a test codec: a ``pb.Referenceable`` travels as a reference to the
    receiver's own object (it comes back home), found again by its id."""

    def __init__(self) -> None:
        self.objects: dict[int, Any] = {}

    def encode_reference(self, obj: Any) -> cbor2.CBORTag | None:
        if not isinstance(obj, pb.Referenceable):
            return None
        self.objects[id(obj)] = obj
        return cbor2.CBORTag(tags.RECEIVER_REF, id(obj))

    def decode_sender_ref(self, export_id: Any) -> Any:
        raise pb.DecodeError("only references back home in these tests")

    def decode_receiver_ref(self, export_id: Any) -> Any:
        return self.objects[export_id]


class Wire:
    """Values through a real codec: what the check of a peer's frame receives, and its size."""

    def __init__(self, registry: pb.Registry, limits: pb.Limits | None = None) -> None:
        self.codec = Codec(registry, limits or pb.Limits(), HomeRefs())
        self.codec.peer_takes_columns = True

    def frame(self, value: Any) -> bytes:
        """The frame a peer sends for ``value``."""
        return self.codec.encode(value)

    def decode(self, frame: bytes) -> Any:
        """What our decoder makes of a frame holding no attachments."""
        decoded, problem = self.codec.decode(frame[8:])
        assert problem is None, problem
        return decoded

    def carry(self, value: Any) -> tuple[Any, int]:
        """``value`` as the peer's decoder makes it from our frame, and the frame's size."""
        frame = self.frame(value)
        return self.decode(frame), len(frame)


def _generated(base: Path, schemas: Path, package: str, module: str) -> types.ModuleType:
    target = base / package
    target.mkdir()
    for name, text in generate(schemas).items():
        (target / name).write_text(text, encoding="utf-8")
    if str(base) not in sys.path:
        sys.path.insert(0, str(base))
    return importlib.import_module(f"{package}.{module}")


@pytest.fixture(scope="session")
def generated_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("typed_gen")


@pytest.fixture(scope="session")
def hostile(generated_base: Path) -> types.ModuleType:
    """The generated module of ``hostile/hostile.py``."""
    return _generated(generated_base, HERE / "hostile", PACKAGE, "hostile")


@pytest.fixture(scope="session")
def alltypes(generated_base: Path) -> types.ModuleType:
    """The generated module of the codegen tests' every-type schema."""
    return _generated(generated_base, HERE.parent / "codegen" / "alltypes", ALLTYPES, "alltypes")


@pytest.fixture(scope="session")
def wire(hostile: types.ModuleType) -> Wire:
    return Wire(hostile.REGISTRY)


@pytest.fixture(scope="session")
def deep_wire(hostile: types.ModuleType) -> Wire:
    """A codec as a server that raised ``max_depth`` and let set members and dict keys be of
    any type (``strict_map_keys=False``)."""
    return Wire(hostile.REGISTRY, pb.Limits(max_depth=256, strict_map_keys=False))
