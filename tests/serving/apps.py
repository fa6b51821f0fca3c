"""Applications for the ``pbtyped serve`` tests (imported by worker processes)."""

from __future__ import annotations

import asyncio
import os

import pbtyped as pb
from pbtyped.cred import AllowAnonymous, Portal


class Service(pb.Root):
    def remote_who(self) -> int:
        return os.getpid()

    def remote_crash(self) -> None:
        os._exit(70)

    async def remote_slow(self, seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "done"


def make() -> Service:
    return Service()


async def make_async() -> Service:
    await asyncio.sleep(0)
    return Service()


class _Realm:
    def request_avatar(self, avatar_id: object, mind: object) -> object:
        return pb.Referenceable()


def make_portal() -> Portal:
    return Portal(_Realm(), [AllowAnonymous()])  # type: ignore[arg-type]


def make_nothing() -> object:
    return object()


def make_failing() -> Service:
    raise RuntimeError("no database")


def make_crashing() -> Service:
    """A worker that listens, then dies a moment later: a crash loop."""
    asyncio.get_running_loop().call_later(0.05, os._exit, 71)
    return Service()
