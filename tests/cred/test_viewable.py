"""Issue 6, item 5: ``view_*`` methods receive the avatar of the caller holding the reference."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

import pbtyped as pb
from pbtyped.cred import Portal, ScramChecker, ViewPoint, login, view_point
from pbtyped.cred import perspective as perspective_module

from .conftest import ITERATIONS, eventually
from .realms import Board, Realm, User


def make(store) -> tuple[Portal, Realm]:
    realm = Realm()
    return Portal(realm, [ScramChecker(store, fake_iterations=ITERATIONS)]), realm


@contextlib.asynccontextmanager
async def alices_board(store) -> AsyncIterator[tuple[Any, Any, Any]]:
    """Serve a portal, connect one client, log alice in: (the client, alice, her board)."""
    portal, _ = make(store)
    async with pb.serve(portal.root()) as server, pb.connect("127.0.0.1", server.port) as client:
        alice = await login(client, "alice", "wonderland")
        yield client, alice, await alice.call_remote("board")


def test_view_methods_receive_the_callers_avatar(run, store) -> None:
    async def body() -> None:
        portal, realm = make(store)
        async with (
            pb.serve(portal.root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
            pb.connect("127.0.0.1", server.port) as other,
        ):
            alice = await login(client, "alice", "wonderland")
            bob = await login(other, "bob", "builder")
            alice_board = await alice.call_remote("board")
            bob_board = await bob.call_remote("board")
            assert await alice_board.call_remote("write", "hello") == 1
            assert await bob_board.call_remote("write", "hi alice") == 2
            assert realm.board.notes == ["alice: hello", "bob: hi alice"]
            assert await bob_board.call_remote("whoami") == "bob"

    run(body)


def test_the_same_avatar_and_viewable_give_the_same_reference(run, store) -> None:
    async def body() -> None:
        async with alices_board(store) as (client, alice, board):
            assert await alice.call_remote("board") is board
            assert await alice.call_remote("board_later") is board  # async methods too
            assert await board.call_remote("myself") is board  # and view methods' results
            nested = await alice.call_remote("boards")
            assert nested["all"][0] is board
            assert nested["all"][1] is board
            # Another login on the same connection has its own ViewPoint, naming its avatar.
            bob = await login(client, "bob", "builder")
            bobs = await bob.call_remote("board")
            assert bobs is not board
            assert bobs.pb_export_id != board.pb_export_id
            assert await bobs.call_remote("whoami") == "bob"
            assert await board.call_remote("whoami") == "alice"

    run(body)


def test_a_view_point_sent_back_arrives_as_its_viewable(run, store) -> None:
    async def body() -> None:
        async with alices_board(store) as (_, alice, board):
            assert await alice.call_remote("is_board", board) is True
            assert await board.call_remote("same", board) is True

    run(body)


def test_only_view_methods_are_reachable(run, store) -> None:
    async def body() -> None:
        async with alices_board(store) as (_, _, board):
            for name in ("notes", "_write", "view_write", "pb_dispatch", "1write"):
                with pytest.raises(pb.NoSuchMethod):
                    await board.call_remote(name)

    run(body)


def test_a_viewable_handed_out_without_an_avatar_is_unreachable(run) -> None:
    class Leaky(pb.Root):
        def __init__(self) -> None:
            self.board = Board()

        def remote_board(self) -> Board:
            return self.board

    async def body() -> None:
        async with pb.serve(Leaky()) as server, pb.connect("127.0.0.1", server.port) as client:
            board = await (await client.root()).call_remote("board")
            with pytest.raises(pb.NoSuchMethod, match="Board is a Viewable"):
                await board.call_remote("write", "who am I?")

    run(body)


def test_view_points_are_not_kept_once_released(run, store) -> None:
    async def body() -> None:
        portal, realm = make(store)

        def cached() -> int:
            points = list(perspective_module._view_points.values())
            return sum(1 for p in points if p.viewable is realm.board)

        async with pb.serve(portal.root()) as server:
            client = await pb.connect("127.0.0.1", server.port)
            alice = await login(client, "alice", "wonderland")
            board = await alice.call_remote("board")
            assert cached() == 1
            del board
            await eventually(lambda: cached() == 0)
            await alice.call_remote("board")  # a new ViewPoint, released with the connection
            await client.aclose()
            await eventually(lambda: cached() == 0)
            assert realm.logouts == ["alice"]

    run(body)


def test_view_point_cache_without_a_connection() -> None:
    avatar = User("carol", Realm(), None)
    board = Board()
    point = view_point(avatar, board)
    assert isinstance(point, ViewPoint)
    assert view_point(avatar, board) is point
    assert point.pb_dispatch("whoami", [], {}) == "carol"
    assert view_point(User("dave", Realm(), None), board) is not point
