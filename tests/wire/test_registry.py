"""The allow-list's public API: what registering a type or an error records, and refuses."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

import pytest

from pbtyped import (
    Error,
    FrameTooLarge,
    LocalProtocolError,
    NoSuchMethod,
    ProtocolError,
    Registry,
    RemoteProtocolError,
)


@dataclasses.dataclass
class Point:
    x: int
    y: int


@dataclasses.dataclass
class Tagged:
    name: str
    tags: list[str] = dataclasses.field(kw_only=True, default_factory=list)


class Colour(enum.Enum):
    RED = 1


class Refusal(Error):
    pass


class Sub(Refusal):
    pass


def test_a_dataclass_is_found_by_class_and_by_wire_name() -> None:
    registry = Registry()
    assert registry.register_type(Point, "geo.Point") is Point
    assert registry.type_name(Point) == "geo.Point"
    assert registry.type_for("geo.Point") is Point
    assert registry.fields_of(Point) == ("x", "y")
    assert registry.copy_spec("geo.Point") == (Point, ("x", "y"), True)
    assert list(registry.types()) == [Point]


def test_a_dataclass_with_a_keyword_only_field_is_not_built_positionally() -> None:
    registry = Registry()
    registry.register_type(Tagged)
    assert registry.copy_spec("Tagged") == (Tagged, ("name", "tags"), False)


def test_an_enum_has_a_wire_name_but_no_copy_spec() -> None:
    registry = Registry()
    registry.register_type(Colour, "paint.Colour")
    assert registry.type_for("paint.Colour") is Colour
    assert registry.type_name(Colour) == "paint.Colour"
    assert registry.fields_of(Colour) == ()
    assert registry.copy_spec("paint.Colour") is None


def test_unknown_names_and_classes_are_none() -> None:
    registry = Registry()
    assert registry.type_name(Point) is None
    assert registry.type_for("Point") is None
    assert registry.copy_spec("Point") is None


def test_registering_again_under_the_same_name_changes_nothing() -> None:
    registry = Registry()
    registry.register_type(Point)
    version = registry.version
    assert registry.register_type(Point) is Point
    assert registry.version == version


def test_one_class_under_two_names_is_refused() -> None:
    registry = Registry()
    registry.register_type(Point)
    with pytest.raises(ValueError, match="Point is already registered as 'Point'"):
        registry.register_type(Point, "geo.Point")


def test_one_name_for_two_classes_is_refused() -> None:
    registry = Registry()
    registry.register_type(Point, "same")
    with pytest.raises(ValueError, match="wire name 'same' is already registered"):
        registry.register_type(Colour, "same")


def test_what_cannot_travel_by_copy_is_refused() -> None:
    @dataclasses.dataclass
    class Derived:
        a: int
        b: int = dataclasses.field(init=False, default=0)

    registry = Registry()
    with pytest.raises(TypeError, match="fields with init=False cannot be copied"):
        registry.register_type(Derived, "Derived")
    with pytest.raises(TypeError, match="neither a dataclass nor an Enum"):
        registry.register_type(int)
    assert list(registry.types()) == []


def test_include_copies_types_and_errors() -> None:
    other = Registry()
    other.register_type(Point, "geo.Point")
    other.register_type(Colour)
    other.register_error(Refusal, "app.Refusal")
    registry = Registry()
    registry.include(other)
    assert registry.copy_spec("geo.Point") == (Point, ("x", "y"), True)
    assert registry.type_for("Colour") is Colour
    assert registry.error_for("app.Refusal") is Refusal


def test_an_error_is_named_by_its_most_derived_registered_class() -> None:
    registry = Registry()
    registry.register_error(Refusal, "app.Refusal")
    assert registry.error_name(Sub) == "app.Refusal"
    assert registry.error_name(NoSuchMethod) == "pbtyped.NoSuchMethod"
    assert registry.error_name(KeyError) is None


@pytest.mark.parametrize(
    "cls", [ProtocolError, LocalProtocolError, RemoteProtocolError, FrameTooLarge]
)
def test_every_protocol_error_is_sent_as_pbtyped_protocol_error(cls: type[Exception]) -> None:
    assert Registry().error_name(cls) == "pbtyped.ProtocolError"


def test_pbtyped_protocol_error_arrives_as_local_protocol_error() -> None:
    # The peer refused one of our calls: our side sent what it does not take.
    assert Registry().error_for("pbtyped.ProtocolError") is LocalProtocolError


# -- joined: a connection's registry over the one it was given -------------------------------


def _module_registry() -> Registry:
    module = Registry()
    module.register_type(Point, "geo.Point")
    module.register_error(Refusal, "geo.Refusal")
    return module


def test_joined_layers_what_is_missing_and_changes_neither() -> None:
    given, module = Registry(), _module_registry()
    given.register_type(Colour, "geo.Colour")
    given_version, module_version = given.version, module.version
    joined = given.joined(module)
    assert joined is not given
    assert joined.type_for("geo.Point") is Point
    assert joined.type_name(Colour) == "geo.Colour"
    assert joined.error_for("geo.Refusal") is Refusal
    assert joined.error_name(Refusal) == "geo.Refusal"
    assert joined.copy_spec("geo.Point") == (Point, ("x", "y"), True)
    assert set(joined.types()) == {Point, Colour}
    assert (given.version, module.version) == (given_version, module_version)
    assert given.type_for("geo.Point") is None
    assert given.error_for("geo.Refusal") is None


def test_joined_is_the_registry_itself_when_it_holds_everything() -> None:
    module = _module_registry()
    assert module.joined(module) is module
    given = Registry()
    given.include(module)
    assert given.joined(module) is given
    joined = Registry().joined(module)
    assert joined.joined(module) is joined


def test_joined_is_kept_until_either_registry_changes() -> None:
    """Connections joining one module share one layer (and its encoders); a change on either
    side makes a new answer, never a stale one."""
    given, module = Registry(), _module_registry()
    first = given.joined(module)
    assert given.joined(module) is first
    module.register_type(Tagged, "geo.Tagged")
    second = given.joined(module)
    assert second is not first
    assert second.type_for("geo.Tagged") is Tagged
    given.register_type(Colour, "geo.Colour")
    third = given.joined(module)
    assert third is not second
    assert third.type_for("geo.Colour") is Colour
    given.register_type(Point, "other.Point")  # now at odds with the module's
    with pytest.raises(ValueError, match=r"Point is already registered as 'other\.Point'"):
        given.joined(module)


def test_a_layer_sees_what_its_base_registers_later() -> None:
    given = Registry()
    joined = given.joined(_module_registry())
    version = joined.version
    given.register_type(Colour, "geo.Colour")
    assert joined.type_for("geo.Colour") is Colour
    assert joined.version > version  # codecs rebuild their encoders


@pytest.mark.parametrize(
    ("register", "taken", "held", "wanted"),
    [
        (Registry.register_type, "geo.Point", "Colour", "Point"),
        (Registry.register_error, "geo.Refusal", "NoSuchRefusal", "Refusal"),
    ],
)
def test_joined_refuses_one_wire_name_for_two_classes_naming_both(
    register: Any, taken: str, held: str, wanted: str
) -> None:
    given = Registry()
    register(given, globals()[held], taken)
    with pytest.raises(ValueError, match="already registered for") as info:
        given.joined(_module_registry())
    assert str(info.value) == (
        f"wire name {taken!r} is already registered for tests.wire.test_registry.{held}: "
        f"it cannot also name tests.wire.test_registry.{wanted}"
    )


def test_joined_refuses_one_class_under_two_names() -> None:
    given = Registry()
    given.register_type(Point, "other.Point")
    with pytest.raises(ValueError, match=r"Point is already registered as 'other\.Point'"):
        given.joined(_module_registry())


class NoSuchRefusal(Error):
    pass
