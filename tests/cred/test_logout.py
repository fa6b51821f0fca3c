"""Issue 6, item 4: logout runs exactly once, and nothing of the mind or avatar is kept."""

from __future__ import annotations

import logging
import weakref

import pytest

import pbtyped as pb
from pbtyped.cred import LoginResult, Portal, ScramChecker, login
from pbtyped.cred.portal import _Session

from .conftest import ITERATIONS, eventually
from .realms import Mind, Realm, User


def make(store) -> tuple[Portal, Realm]:
    realm = Realm()
    return Portal(realm, [ScramChecker(store, fake_iterations=ITERATIONS)]), realm


def test_logout_once_when_the_client_drops_its_last_reference(run, store) -> None:
    async def body() -> None:
        portal, realm = make(store)
        async with (
            pb.serve(portal.root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            alice = await login(client, "alice", "wonderland")
            again = alice  # a second Python reference is not a second remote one
            bob = await login(client, "bob", "builder")
            del alice
            assert await again.call_remote("whoami") == "alice"
            assert realm.logouts == []
            del again
            await eventually(lambda: realm.logouts == ["alice"])
            assert await bob.call_remote("whoami") == "bob"  # the other login is untouched
        # The disconnect logs bob out; alice is not logged out twice.
        assert realm.logouts == ["alice", "bob"]
        assert realm.active == {}

    run(body)


def test_logout_once_on_disconnect(run, store) -> None:
    async def body() -> None:
        portal, realm = make(store)
        async with pb.serve(portal.root()) as server:
            client = await pb.connect("127.0.0.1", server.port)
            alice = await login(client, "alice", "wonderland")
            second = await login(client, "alice", "wonderland")
            await client.aclose()
            await eventually(lambda: len(realm.logouts) == 2)
            del alice, second
            await eventually(lambda: True)  # collect: a late release must not log out again
            assert realm.logouts == ["alice", "alice"]

    run(body)


@pytest.mark.parametrize("how", ["release", "disconnect"])
def test_nothing_of_the_mind_or_avatar_is_kept(run, store, how) -> None:
    async def body() -> None:
        portal, realm = make(store)
        async with pb.serve(portal.root()) as server:
            client = await pb.connect("127.0.0.1", server.port)
            mind = Mind()
            alice = await login(client, "alice", "wonderland", mind=mind)
            assert await alice.call_remote("ping_mind", "hi") == "HI"
            (avatar,) = realm.active.values()
            assert isinstance(avatar, User)
            assert avatar.mind is not None
            watched = {
                "server avatar": weakref.ref(avatar),
                "server mind reference": weakref.ref(avatar.mind),
                "client mind": weakref.ref(mind),
                "client avatar reference": weakref.ref(alice),
            }
            (conn,) = server.connections
            del avatar, mind
            if how == "release":
                del alice
                await eventually(lambda: realm.logouts == ["alice"])
                # Everything given in the login was released on both sides.
                await eventually(lambda: conn.broker.export_count == 1)  # the root
                await eventually(lambda: client.connection.broker.export_count == 0)
                await eventually(lambda: conn.broker.import_count == 0)
            else:
                await client.aclose()
                del alice
                await eventually(lambda: realm.logouts == ["alice"])
            await eventually(lambda: all(ref() is None for ref in watched.values()))
            assert realm.active == {}
            await client.aclose()

    run(body)


def test_logout_when_the_answer_never_reached_the_client(run, store) -> None:
    """A login finished after its connection closed is logged out at once."""

    async def body() -> None:
        portal, realm = make(store)
        async with pb.serve(portal.root()) as server:
            client = await pb.connect("127.0.0.1", server.port)
            mind = Mind()
            await login(client, "alice", "wonderland", mind=mind)
            (avatar,) = realm.active.values()
            caller = avatar.mind
            assert caller is not None
            await client.aclose()
            await eventually(lambda: not caller.is_connected)
            ended: list[str] = []
            _Session(avatar, lambda: ended.append("logout"), caller)
            assert ended == ["logout"]

    run(body)


def test_a_failing_logout_callback_is_logged_not_raised(run, store, caplog) -> None:
    class Careless(Realm):
        def request_avatar(
            self, user_id: str | None, mind: pb.RemoteReference | None
        ) -> LoginResult:
            avatar, _ = super().request_avatar(user_id, mind)

            def logout() -> None:
                raise RuntimeError("logout broke")

            return avatar, logout

    async def body() -> None:
        portal = Portal(Careless(), [ScramChecker(store, fake_iterations=ITERATIONS)])
        async with (
            pb.serve(portal.root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            alice = await login(client, "alice", "wonderland")
            del alice
            await eventually(lambda: "logout callback" in caplog.text)
            assert await login(client, "bob", "builder")  # the server carries on

    caplog.set_level(logging.ERROR, logger="pbtyped")
    run(body)
    assert "RuntimeError: logout broke" in caplog.text
