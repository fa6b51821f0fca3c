"""Issue 6, item 4: logout runs exactly once, and nothing of the mind or avatar is kept."""

from __future__ import annotations

import asyncio
import contextlib
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


class Careless(Realm):
    """A realm whose logout raises: a plain function, or a coroutine function."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def request_avatar(self, user_id: str | None, mind: pb.RemoteReference | None) -> LoginResult:
        avatar, _ = super().request_avatar(user_id, mind)

        def logout() -> None:
            raise RuntimeError("logout broke")

        async def async_logout() -> None:
            await asyncio.sleep(0)
            raise RuntimeError("logout broke")

        return avatar, (logout if self.kind == "sync" else async_logout)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_failing_logout_callback_is_logged_not_raised(run, store, caplog, kind: str) -> None:
    """On release (the server carries on) and on close (which completes): logged once each,
    never raised."""

    async def body() -> None:
        portal = Portal(Careless(kind), [ScramChecker(store, fake_iterations=ITERATIONS)])
        async with pb.serve(portal.root()) as server:
            client = await pb.connect("127.0.0.1", server.port)
            alice = await login(client, "alice", "wonderland")
            del alice
            await eventually(lambda: "logout callback" in caplog.text)
            bob = await login(client, "bob", "builder")  # the server carries on
            (line,) = server.connections
            await client.aclose()
            await line.wait_closed()
            del bob

    caplog.set_level(logging.ERROR, logger="pbtyped")
    run(body)
    assert [r.getMessage().startswith("logout callback ") for r in caplog.records] == [True] * 2
    assert caplog.text.count("RuntimeError: logout broke") == 2


class Room:
    """A realm whose logout is a coroutine function: it tells everyone still in the room
    that the user left (a call to each one's mind), then records that it ended."""

    def __init__(self, wait: asyncio.Event | None = None) -> None:
        self.minds: dict[str, pb.RemoteReference] = {}
        self.left: list[str] = []
        self._wait = wait

    def request_avatar(self, user_id: str | None, mind: pb.RemoteReference | None) -> LoginResult:
        name = user_id or "anonymous"
        assert mind is not None
        self.minds[name] = mind

        async def logout() -> None:
            del self.minds[name]
            if self._wait is not None:
                await self._wait.wait()
            for other in list(self.minds.values()):
                # Someone whose line is closing too is not told.
                with contextlib.suppress(pb.DeadReferenceError, pb.ConnectionLost):
                    await other.call_remote("ping", f"{name} left")
            self.left.append(name)

        return User(name, Realm(), mind), logout


def room_portal(store, room: Room, **options: float) -> Portal:
    return Portal(room, [ScramChecker(store, fake_iterations=ITERATIONS)], **options)


def test_an_async_logout_runs_once_before_the_close_completes(run, store) -> None:
    """Issue 12 item 6: a coroutine logout is awaited, once; the server side of the line is
    not closed (wait_closed) before it has told the others."""

    async def body() -> None:
        room = Room()
        async with (
            pb.serve(room_portal(store, room).root()) as server,
            pb.connect("127.0.0.1", server.port) as bob_client,
        ):
            bob_mind = Mind()
            bob = await login(bob_client, "bob", "builder", mind=bob_mind)
            (bob_line,) = server.connections
            alice_client = await pb.connect("127.0.0.1", server.port)
            alice = await login(alice_client, "alice", "wonderland", mind=Mind())
            (alice_line,) = server.connections - {bob_line}
            await alice_client.aclose()
            await alice_line.wait_closed()
            assert room.left == ["alice"]
            assert bob_mind.pings == ["alice left"]
            await eventually(lambda: True)  # collect: nothing runs the logout again
            del alice
            assert room.left == ["alice"]
            assert list(room.minds) == ["bob"]
            assert await bob.call_remote("whoami") == "bob"
        assert room.left == ["alice", "bob"]

    run(body)


def test_server_aclose_awaits_every_async_logout(run, store) -> None:
    """server.aclose() returns once each user's async logout has run, once."""

    async def body() -> None:
        room = Room()
        server = await pb.serve(room_portal(store, room).root()).start()
        clients = [await pb.connect("127.0.0.1", server.port) for _ in range(2)]
        avatars = [
            await login(clients[0], "alice", "wonderland", mind=Mind()),
            await login(clients[1], "bob", "builder", mind=Mind()),
        ]
        await server.aclose()
        assert sorted(room.left) == ["alice", "bob"]
        for client in clients:
            await client.aclose()
        del avatars
        assert sorted(room.left) == ["alice", "bob"]

    run(body)


def test_a_stuck_async_logout_is_cancelled_and_logged_and_the_close_completes(
    run, store, caplog
) -> None:
    """A logout past Portal(logout_timeout=) is cancelled and logged, not raised into the
    close, which completes."""

    async def body() -> None:
        room = Room(wait=asyncio.Event())  # never set: every logout is stuck
        portal = room_portal(store, room, logout_timeout=0.2)
        async with pb.serve(portal.root()) as server:
            client = await pb.connect("127.0.0.1", server.port)
            alice = await login(client, "alice", "wonderland", mind=Mind())
            (line,) = server.connections
            await client.aclose()
            await line.wait_closed()
            del alice
        assert room.left == []

    caplog.set_level(logging.ERROR, logger="pbtyped")
    run(body)
    (record,) = caplog.records
    assert record.getMessage().startswith("logout callback <function Room.request_avatar.")
    assert record.getMessage().endswith(
        "did not finish within 0.2 s (Portal(logout_timeout=)): cancelled"
    )


def test_logout_timeout_is_checked() -> None:
    for bad in (0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="logout_timeout must be a positive number"):
            Portal(Realm(), [], logout_timeout=bad)
