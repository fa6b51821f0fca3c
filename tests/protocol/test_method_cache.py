"""The remote-method cache: per class, bounded by what exists, gone with the class; and no
memo a peer can fill."""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import pytest

import pbtyped as pb
from pbtyped.protocol import objects

from .wiring import answer_calls, decode_frames, msg, open_broker


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


def test_method_names_a_peer_sends_leave_nothing_behind() -> None:
    """Attack: call many distinct method names (none exists). Each valid name went into a
    process-wide memo (up to 4,096 names of up to 200 characters) that outlived the
    connection, and once full it no longer served anyone's real names. Names received are
    now checked without a memo: when the connection goes, memory is back where it was."""
    calls = b"".join(msg(1, qid, [0, 0], f"name_{qid:05}_" + "x" * 150, []) for qid in range(5000))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        broker = open_broker()
        out, _ = answer_calls(broker, broker.receive_data(calls))
        assert len(decode_frames(out)) == 5000  # each refused with NoSuchMethod
        broker.connection_lost()
        del broker, out
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 16 * 1024, f"{kept} bytes outlived the connection"
    assert not any(name.startswith("name_") for name in objects._NAMES_SENT)


def test_one_rule_for_every_prefix() -> None:
    """Issue 11: ``perspective_``/``view_`` lookup had drifted from ``remote_``'s: it found a
    method put on the instance and took names of any length."""
    from pbtyped.cred.perspective import Avatar, find_method

    class Shop(Avatar):
        def perspective_buy(self) -> str:
            return "bought"

    shop = Shop()
    shop.perspective_buy = lambda: "planted"  # type: ignore[method-assign]
    assert find_method(shop, "perspective_", "buy")() == "bought"  # the class's, only
    with pytest.raises(pb.NoSuchMethod, match="not a valid remote method name"):
        find_method(shop, "perspective_", "b" * 201)
    with pytest.raises(pb.NoSuchMethod, match="has no remote method"):
        find_method(shop, "view_", "buy")
