"""pb.Reconnecting with a setup that logs in: its root is the avatar, bound again (a new
login) on each connection (issue 15 item 4)."""

from __future__ import annotations

import asyncio

import pbtyped as pb
from pbtyped.cred import Portal, ScramChecker, login
from pbtyped.runtime.reconnecting import Backoff

from .conftest import ITERATIONS
from .realms import Realm

BOUND = 5.0


def test_the_avatar_is_bound_again_after_a_restart(run, store) -> None:
    async def body() -> None:
        realm = Realm()
        portal = Portal(realm, [ScramChecker(store, fake_iterations=ITERATIONS)])
        first = await pb.serve(portal.root()).start()
        port = first.port

        async def setup(client: pb.Client) -> pb.RemoteReference:
            return await login(client, "alice", "wonderland")

        async with pb.Reconnecting(
            "127.0.0.1", port, setup=setup, backoff=Backoff(initial=0.02, cap=0.1)
        ) as rc:
            assert await rc.root.call("whoami", timeout=BOUND) == "alice"
            await first.drain(grace=BOUND)
            assert realm.logouts == ["alice"]
            second = await pb.serve(portal.root(), port=port).start()
            try:
                assert await rc.root.call("whoami", timeout=BOUND) == "alice"
                assert realm.logins == ["alice", "alice"]
            finally:
                await rc.aclose()
                await asyncio.wait_for(second.aclose(), BOUND)
        assert realm.logouts == ["alice", "alice"]

    run(body)
