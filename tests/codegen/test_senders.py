"""``sender_for``: what a client converts before sending, and what it leaves alone."""

from __future__ import annotations

from typing import Annotated, Any

import pbtyped as pb
from pbtyped.typed.senders import sender_for


class RefClient(pb.Stub):
    __slots__ = ()


def test_nothing_to_do_without_references_in_containers() -> None:
    for annotation in (int, list[int], dict[str, list[int]], RefClient, RefClient | None):
        assert sender_for(annotation) is None


def test_containers_of_references_become_lists_and_dicts() -> None:
    send: Any = sender_for(Annotated[dict[str, list[RefClient]], pb.MaxLen(3)] | None)
    assert send is not None
    assert send({"a": ("x", "y")}) == {"a": ["x", "y"]}
    assert type(send({"a": ("x",)})["a"]) is list
    assert send(None) is None
    pair: Any = sender_for(tuple[list[RefClient], int])
    assert pair(((1, 2), 3)) == ([1, 2], 3)
    many: Any = sender_for(tuple[list[RefClient], ...])
    assert many([(1,), (2,)]) == ([1], [2])


def test_other_shapes_are_left_for_the_peer_to_refuse() -> None:
    send: Any = sender_for(list[RefClient])
    for value in ("ab", b"ab", 5, {"a": 1}):
        assert send(value) is value
    pair: Any = sender_for(tuple[list[RefClient], int])
    assert pair((1, 2, 3)) == (1, 2, 3)
