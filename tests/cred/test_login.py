"""Issue 6, items 1 to 3: portal and realm, password login, anonymous login (over TCP)."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import pytest

import pbtyped as pb
from pbtyped.cred import (
    AllowAnonymous,
    Checker,
    InMemoryScramStore,
    Portal,
    ScramChecker,
    ScramRecord,
    login,
    login_anonymous,
)
from pbtyped.runtime.connection import Connection

from .conftest import ITERATIONS, eventually
from .realms import Mind, Realm

FAILED = "login failed: unknown user or wrong password"


def make_portal(store: InMemoryScramStore, *extra: Checker, **options: Any) -> Portal:
    return Portal(Realm(), [ScramChecker(store, fake_iterations=ITERATIONS), *extra], **options)


_PEER = re.compile(r"from \('127\.0\.0\.1', \d+\):")


class FailureLog:
    """The failed-login lines logged by the "pbtyped" logger, read when compared."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self._caplog = caplog

    def lines(self) -> list[str]:
        """The lines, with the peer's address (a loopback port that varies) as ``PEER``."""
        messages = (r.getMessage() for r in self._caplog.records if r.name == "pbtyped")
        return [_PEER.sub("from PEER:", m) for m in messages if "failed login" in m]


@pytest.fixture
def failures(caplog: pytest.LogCaptureFixture) -> FailureLog:
    caplog.set_level(logging.WARNING, logger="pbtyped")
    return FailureLog(caplog)


def test_password_login_gives_the_users_avatar(run, store) -> None:
    async def body() -> None:
        portal = make_portal(store)
        async with (
            pb.serve(portal.root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            alice = await login(client, "alice", "wonderland")
            assert isinstance(alice, pb.RemoteReference)
            assert await alice.call_remote("whoami") == "alice"
            root = await client.root()
            assert await root.call_remote("mechanisms") == ["SCRAM-SHA-256"]
            with pytest.raises(pb.Error, match="expected failure"):
                await alice.call_remote("boom")

    run(body)


def test_two_logins_on_one_connection_give_two_avatars(run, store) -> None:
    async def body() -> None:
        portal = make_portal(store)
        realm = portal.realm
        assert isinstance(realm, Realm)
        async with (
            pb.serve(portal.root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            first, second, bob = await asyncio.gather(
                login(client, "alice", "wonderland"),
                login(client, "alice", "wonderland"),
                login(client, "bob", "builder"),
            )
            assert first is not second
            assert first.pb_export_id != second.pb_export_id
            assert len(realm.active) == 3
            assert await first.call_remote("whoami") == await second.call_remote("whoami")
            assert await bob.call_remote("whoami") == "bob"

    run(body)


def test_only_perspective_methods_are_reachable(run, store) -> None:
    async def body() -> None:
        async with (
            pb.serve(make_portal(store).root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            alice = await login(client, "alice", "wonderland")
            for name in ("secret", "_secret", "__init__", "name", "perspective_whoami"):
                with pytest.raises(pb.NoSuchMethod):
                    await alice.call_remote(name)

    run(body)


def test_bad_password_and_unknown_user_fail_alike_and_are_logged_once(run, store, failures) -> None:
    async def body() -> list[str]:
        async with (
            pb.serve(make_portal(store).root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            messages = []
            for user, password in (("alice", "wrong"), ("mallory", "wonderland")):
                with pytest.raises(pb.UnauthorizedLogin) as caught:
                    await login(client, user, password)
                messages.append(str(caught.value))
            assert await login(client, "alice", "wonderland")  # the connection still works
            return messages

    assert run(body) == [FAILED, FAILED]
    assert failures.lines() == [
        "failed login as 'alice' from PEER: wrong password (failure 1 of 5 on this connection)",
        "failed login as 'mallory' from PEER: unknown user (failure 2 of 5 on this connection)",
    ]


def test_unknown_user_sees_a_stable_salt_and_the_same_iterations(run, store) -> None:
    async def body() -> None:
        async with (
            pb.serve(make_portal(store).root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            root = await client.root()

            async def server_first(user: str) -> str:
                first = f"n,,n={user},r=clientnonce123"
                exchange, answer = await root.call_remote("scram_start", Mind(), first)
                del exchange
                assert isinstance(answer, str)
                return answer.split(",", 1)[1]  # salt and iterations

            mallory = await server_first("mallory")
            assert mallory == await server_first("mallory")
            assert mallory != await server_first("eve")
            alice = await server_first("alice")
            assert len(alice) == len(mallory)
            assert alice.endswith(mallory[-7:])

    run(body)


def test_repeated_failures_close_the_door_on_that_connection(run, store, failures) -> None:
    async def body() -> None:
        async with (
            pb.serve(make_portal(store, max_failures=3).root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
            pb.connect("127.0.0.1", server.port) as other,
        ):
            for _ in range(3):
                with pytest.raises(pb.UnauthorizedLogin, match=FAILED):
                    await login(client, "alice", "guess")
            # Even the right password is refused now, at once, on this connection only.
            with pytest.raises(pb.UnauthorizedLogin, match="too many failed logins"):
                await login(client, "alice", "wonderland")
            with pytest.raises(pb.UnauthorizedLogin, match="too many failed logins"):
                await login_anonymous(client)
            assert await (await login(other, "alice", "wonderland")).call_remote("whoami")

    run(body)
    assert len(failures.lines()) == 3
    assert failures.lines()[-1].endswith(
        "(failure 3 of 3 on this connection; further logins on it are refused)"
    )


def test_anonymous_login_when_allowed(run, store) -> None:
    async def body() -> None:
        portal = make_portal(store, AllowAnonymous())
        async with (
            pb.serve(portal.root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            guest = await login_anonymous(client)
            assert await guest.call_remote("whoami") == "anonymous"
            assert await (await client.root()).call_remote("mechanisms") == [
                "ANONYMOUS",
                "SCRAM-SHA-256",
            ]
            assert isinstance(portal.realm, Realm)
            assert portal.realm.logins == [None]

    run(body)


def test_anonymous_login_refused_clearly(run, store, failures) -> None:
    async def body() -> None:
        async with (
            pb.serve(make_portal(store).root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            with pytest.raises(
                pb.UnauthorizedLogin, match="anonymous login is not allowed on this server"
            ):
                await login_anonymous(client)

    run(body)
    assert failures.lines() == [
        "failed login as anonymous from PEER: anonymous login is not allowed "
        "(failure 1 of 5 on this connection)"
    ]


def test_password_login_refused_when_the_portal_has_no_password_checker(run) -> None:
    async def body() -> None:
        portal = Portal(Realm(), [AllowAnonymous()])
        async with (
            pb.serve(portal.root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            with pytest.raises(pb.UnauthorizedLogin, match="password login is not enabled"):
                await login(client, "alice", "wonderland")
            assert await (await login_anonymous(client)).call_remote("whoami") == "anonymous"

    run(body)


def test_mind_reaches_the_realm_and_can_be_called_back(run, store) -> None:
    async def body() -> None:
        mind = Mind()
        async with (
            pb.serve(make_portal(store).root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            alice = await login(client, "alice", "wonderland", mind=mind)
            assert await alice.call_remote("ping_mind", "hello") == "HELLO"
            assert mind.pings == ["hello"]

    run(body)


def test_the_password_never_crosses_the_wire(run, store, monkeypatch) -> None:
    seen: list[bytes] = []
    original = Connection.data_received

    def recording(self: Connection, data: bytes) -> None:
        seen.append(bytes(data))
        original(self, data)

    monkeypatch.setattr(Connection, "data_received", recording)

    async def body() -> None:
        async with (
            pb.serve(make_portal(store).root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            await login(client, "alice", "wonderland")

    run(body)
    traffic = b"".join(seen)
    assert b"alice" in traffic  # the recording works: the user name does travel
    assert b"wonderland" not in traffic


def test_client_refuses_a_server_that_does_not_know_the_verifier(run, store) -> None:
    async def body() -> None:
        real = store.lookup("alice")
        assert real is not None
        forged = InMemoryScramStore()
        # A server that stole StoredKey can check proofs, but cannot sign: ServerKey is wrong.
        forged.set_record(
            "alice", ScramRecord(real.salt, real.iterations, real.stored_key, b"\0" * 32)
        )
        portal = make_portal(forged)
        realm = portal.realm
        assert isinstance(realm, Realm)
        async with (
            pb.serve(portal.root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            with pytest.raises(pb.UnauthorizedLogin, match="could not prove"):
                await login(client, "alice", "wonderland")
            # The client dropped the avatar it was given: the server logs it out.
            await eventually(lambda: realm.logouts == ["alice"])

    run(body)


def test_iteration_bounds_of_the_client(run, store) -> None:
    async def body() -> None:
        async with (
            pb.serve(make_portal(store).root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            with pytest.raises(pb.UnauthorizedLogin, match="asks for 4096 iterations"):
                await login(client, "alice", "wonderland", min_iterations=10_000)

    run(body)


def test_login_steps_refuse_hostile_arguments(run, store) -> None:
    async def body() -> None:
        async with (
            pb.serve(make_portal(store, AllowAnonymous(), max_pending=2).root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            root = await client.root()
            with pytest.raises(pb.ValidationError, match="reference to an object of the caller"):
                await root.call_remote("scram_start", "me", "n,,n=alice,r=clientnonce")
            with pytest.raises(pb.ValidationError, match="must be a str"):
                await root.call_remote("scram_start", Mind(), 42)
            # Logins in progress are bounded per connection.
            started = [
                await root.call_remote("scram_start", Mind(), "n,,n=alice,r=clientnonce")
                for _ in range(2)
            ]
            with pytest.raises(pb.LimitExceeded, match="2 logins are already in progress"):
                await root.call_remote("scram_start", Mind(), "n,,n=alice,r=clientnonce")
            exchange = started[0][0]
            with pytest.raises(pb.UnauthorizedLogin, match="channel binding"):
                await exchange.call_remote("finish", "c=xxxx,r=x,p=AAAA")
            # An exchange is used once: its failure freed a slot, and it cannot be retried.
            with pytest.raises(pb.UnauthorizedLogin, match="already finished"):
                await exchange.call_remote("finish", "c=biws,r=x,p=AAAA")
            await root.call_remote("scram_start", Mind(), "n,,n=alice,r=clientnonce")
            with pytest.raises(pb.ValidationError, match="the mind must be"):
                await root.call_remote("login_anonymous", Mind(), "not a reference")

    run(body)


def test_stub_typed_login(run, store) -> None:
    class UserClient(pb.Stub):
        """A hand-written stand-in for a generated avatar stub."""

        async def whoami(self) -> str:
            result: str = await self.pb_reference.call_remote("whoami")
            return result

    async def body() -> None:
        async with (
            pb.serve(make_portal(store, AllowAnonymous()).root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            alice = await login(client, "alice", "wonderland", stub=UserClient)
            assert isinstance(alice, UserClient)
            assert await alice.whoami() == "alice"
            guest = await login_anonymous(await client.root(), stub=UserClient)
            assert await guest.whoami() == "anonymous"

    run(body)


def test_a_stub_of_another_interface_is_refused_at_login(run, store) -> None:
    """``login(..., stub=)`` checks the avatar's interfaces as ``client.root`` checks the
    root's: these avatars implement none, so a stub of ``bank.Account`` does not fit them."""
    from examples.cred.gen.bank import AccountClient

    refused = (
        "{}: expected a reference to bank.Account, got one of no declared interface: "
        "AccountClient is not a stub of the avatar"
    )

    async def body() -> None:
        async with (
            pb.serve(make_portal(store, AllowAnonymous()).root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            with pytest.raises(pb.ValidationError) as info:
                await login(client, "alice", "wonderland", stub=AccountClient)
            assert str(info.value) == refused.format("login()")
            with pytest.raises(pb.ValidationError) as info:
                await login_anonymous(client, stub=AccountClient)
            assert str(info.value) == refused.format("login_anonymous()")

    run(body)


def test_an_avatar_brings_its_registry_and_names_its_interfaces(run, store) -> None:
    """The session a login sends for a generated avatar names the avatar's interfaces and
    brings its module's registry, as the avatar itself would: neither end passes one."""
    from examples.cred.bank import Bank
    from examples.cred.gen.bank import AccountClient, Entry, InsufficientFunds

    portal = Portal(Bank(["alice"]), [ScramChecker(store, fake_iterations=ITERATIONS)])

    async def body() -> None:
        async with (
            pb.serve(portal.root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            alice = await login(client, "alice", "wonderland", stub=AccountClient)
            assert alice.pb_reference.pb_interfaces == ("bank.Account",)
            await alice.deposit(500)
            assert await alice.statement() == [Entry("deposit", 500, 500)]
            with pytest.raises(InsufficientFunds):
                await alice.withdraw(600)
            assert server.registry.type_for("bank.Entry") is None  # shared: never changed
            # A second connection's avatar brings the same registry: the two share one layer.
            async with pb.connect("127.0.0.1", server.port) as second:
                await login(second, "alice", "wonderland", stub=AccountClient)
                first_line, second_line = server.connections
                assert first_line.broker.registry is second_line.broker.registry
                assert first_line.broker.registry is not server.registry

    run(body)


def test_portal_configuration_errors() -> None:
    store = InMemoryScramStore()
    with pytest.raises(ValueError, match="two checkers for SCRAM-SHA-256"):
        Portal(Realm(), [ScramChecker(store), ScramChecker(store)])
    with pytest.raises(ValueError, match="at least 1"):
        Portal(Realm(), [], max_failures=0)


def test_malformed_login_messages_fail_and_are_counted(run, store, failures) -> None:
    async def body() -> None:
        async with (
            pb.serve(make_portal(store).root()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            root = await client.root()
            with pytest.raises(pb.UnauthorizedLogin, match="only the GS2 header"):
                await root.call_remote("scram_start", Mind(), "y,,n=alice,r=clientnonce")

    run(body)
    assert failures.lines() == [
        "failed login with a password from PEER: SCRAM: only the GS2 header 'n,,' is "
        "supported (no channel binding, no authzid) (failure 1 of 5 on this connection)"
    ]
