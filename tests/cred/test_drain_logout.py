"""A draining server logs every user out (issue 15 item 2)."""

from __future__ import annotations

import asyncio

import pbtyped as pb
from pbtyped.cred import Portal, ScramChecker, login

from .conftest import ITERATIONS
from .realms import Realm


def test_drain_runs_the_logouts(run, store) -> None:
    async def body() -> None:
        realm = Realm()
        portal = Portal(realm, [ScramChecker(store, fake_iterations=ITERATIONS)])
        server = await pb.serve(portal.root()).start()
        client = await pb.connect("127.0.0.1", server.port)
        alice = await login(client, "alice", "wonderland")
        assert await alice.call_remote("whoami") == "alice"
        await asyncio.wait_for(server.drain(grace=5.0), 5)
        assert realm.logouts == ["alice"]  # run before drain() returned
        await client.connection.wait_closed()

    run(body)
