"""What a reference says its object implements: the ``"interfaces"`` feature (docs/protocol.md
5.5) and the one rule that reads it.

An object implements the interfaces named by ``pb_interface`` along its class's MRO (a
generated skeleton names its own; the skeletons it extends name theirs). Between peers that
both offer the feature, the first ``SENDER_REF`` of an export id carries those names, the
server's Hello carries its root's, and the receiver keeps them with the import
(``ImportedReference.pb_interfaces``): ``None`` where nothing was said (an older peer).
"""

from __future__ import annotations

import weakref
from typing import Any

from .._exceptions import DecodeError, InsecureTypeError, LimitExceeded, ValidationError
from ..wire.registry import is_wire_name

__all__ = [
    "FEATURE",
    "MAX_NAMES",
    "MAX_SETS",
    "NameSets",
    "check_root",
    "got",
    "implemented_by",
    "names_problem",
    "sendable",
]

#: The Hello feature both peers list to send and read interface names.
FEATURE = "interfaces"
#: Names one reference (or a Hello's root) may carry: a class and the interfaces it extends.
MAX_NAMES = 16
#: Distinct sets of names a receiver keeps per connection (each kept once, however many
#: references carry it): a peer cannot make this side hold more than about 0.5 MB of names.
MAX_SETS = 128


def implemented_by(cls: type[Any]) -> tuple[str, ...]:
    """The interfaces instances of ``cls`` implement, most derived first: the text of each
    ``pb_interface`` a class along its MRO defines (a subclass of a skeleton names none of
    its own and implements its skeleton's). Empty for an untyped ``Referenceable``."""
    known = _implemented.get(cls)
    if known is None:
        forwards = cls.__dict__.get("pb_implements")
        if isinstance(forwards, tuple):
            # A class whose objects forward every call to another class's (a login's session
            # to its avatar) names, as ``pb_implements``, what that class implements.
            known = _implemented[cls] = forwards
            return known
        names = (c.__dict__.get("pb_interface") for c in cls.__mro__)
        known = _implemented[cls] = tuple(dict.fromkeys(n for n in names if isinstance(n, str)))
    return known


# A cache of this program's classes (a class that goes away takes its entry with it).
_implemented: weakref.WeakKeyDictionary[type[Any], tuple[str, ...]] = weakref.WeakKeyDictionary()


def sendable(cls: type[Any]) -> list[str]:
    """``implemented_by(cls)`` as a sender writes it, or InsecureTypeError if a peer would
    refuse it (a hand-written ``pb_interface`` that is not a wire name, too many names)."""
    names = implemented_by(cls)
    why = names_problem(names)
    if why is not None:
        raise InsecureTypeError(f"{cls.__qualname__} cannot be sent by reference: {why}")
    return list(names)


def names_problem(names: Any) -> str | None:
    """Why ``names`` is not a valid set of interface names, or None if it is one."""
    if not isinstance(names, list | tuple):
        return "expected an array of interface names"
    if len(names) > MAX_NAMES:
        return f"{len(names)} interface names (at most {MAX_NAMES})"
    if not all(map(is_wire_name, names)):
        return "an interface name must be a dotted identifier of at most 200 characters"
    return None


class NameSets:
    """The sets of interface names a peer sent on one connection, each kept once: a reference
    holds the shared tuple, so a thousand references to one interface cost one set."""

    __slots__ = ("_sets",)

    def __init__(self) -> None:
        self._sets: dict[tuple[str, ...], tuple[str, ...]] = {}

    def __len__(self) -> int:
        return len(self._sets)

    def intern(self, names: Any) -> tuple[str, ...]:
        """The kept tuple equal to ``names``; DecodeError if malformed, LimitExceeded beyond
        ``MAX_SETS`` distinct sets."""
        if type(names) is not list or len(names) > MAX_NAMES:
            raise DecodeError(f"malformed reference: {names_problem(names)}")
        if not all(type(n) is str for n in names):  # hashable before the lookup
            raise DecodeError(f"malformed reference: {names_problem(names)}")
        key = tuple(names)
        known = self._sets.get(key)
        if known is not None:
            return known  # checked when it was first kept
        why = names_problem(key)
        if why is not None:
            raise DecodeError(f"malformed reference: {why}")
        if len(self._sets) >= MAX_SETS:
            raise LimitExceeded(
                f"the peer sent references of more than {MAX_SETS} distinct sets of "
                "interfaces on this connection"
            )
        self._sets[key] = key
        return key


def got(names: tuple[str, ...]) -> str:
    """How a refusal names what a reference implements: ``one to shop.Cart``."""
    return f"one to {names[0]}" if names else "one of no declared interface"


def check_root(
    reference: Any, stub: type[Any] | None, call: str = "root()", what: str = "the server's root"
) -> None:
    """Refuse, with ValidationError, a ``reference`` that does not implement the interface of
    ``stub`` (a generated ``XClient``), when the peer named the interfaces of its object (the
    Hello names the root's, a reference its own). ``call`` and ``what`` name, in the message,
    the call that gave the reference (``login()``) and its object (``the avatar``)."""
    wanted = getattr(stub, "pb_interface", None)
    names = getattr(reference, "pb_interfaces", None)
    if isinstance(wanted, str) and names is not None and wanted not in names:
        raise ValidationError(
            f"{call}: expected a reference to {wanted}, got {got(names)}: "
            f"{getattr(stub, '__name__', 'the stub')} is not a stub of {what}"
        )
