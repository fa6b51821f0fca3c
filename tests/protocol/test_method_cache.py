"""The remote-method cache: per class, bounded by what exists, gone with the class."""

from __future__ import annotations

import gc
import weakref

import pytest

import pbtyped as pb
from pbtyped.protocol import objects


def make_class() -> type[pb.Referenceable]:
    class Made(pb.Referenceable):
        def remote_hello(self) -> str:
            return "hi"

    return Made


def test_a_class_that_goes_away_takes_its_cache_entry_with_it() -> None:
    before = len(objects._found)
    cls = make_class()
    obj = cls()
    assert objects.find_remote_method(obj, "hello")() == "hi"
    assert objects.find_remote_method(cls(), "hello")() == "hi"  # the same entry again
    assert len(objects._found) == before + 1
    with pytest.raises(pb.NoSuchMethod):
        objects.find_remote_method(obj, "missing")  # names that do not exist are not kept
    assert objects._found[weakref.ref(cls)] == {"hello": cls.remote_hello}
    del obj, cls
    gc.collect()
    assert len(objects._found) == before
