"""Fixtures for the login, Viewable and TLS tests (real sockets on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from pbtyped.cred import InMemoryScramStore

from .certs import Certificates, have_openssl, make_certificates

#: Records for tests use RFC 7677's floor, to keep each login fast.
ITERATIONS = 4096


@pytest.fixture
def run() -> Callable[..., Any]:
    """Run an async test body with a hard bound so nothing can hang the suite."""

    def runner(body: Callable[[], Awaitable[Any]], limit: float = 20.0) -> Any:
        async def bounded() -> Any:
            async with asyncio.timeout(limit):
                return await body()

        return asyncio.run(bounded())

    return runner


async def eventually(predicate: Callable[[], bool], limit: float = 5.0) -> None:
    """Collect garbage and yield to the loop until ``predicate()`` holds (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        gc.collect()
        await asyncio.sleep(0.01)


@pytest.fixture(scope="session")
def store() -> InMemoryScramStore:
    """alice/wonderland and bob/builder (records only, made once per session)."""
    users = InMemoryScramStore()
    users.add_user("alice", "wonderland", iterations=ITERATIONS)
    users.add_user("bob", "builder", iterations=ITERATIONS)
    return users


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """Certificates made with the openssl command (the cryptography package is absent)."""
    if not have_openssl():
        pytest.skip("the openssl command is needed to make test certificates")
    return make_certificates(tmp_path_factory.mktemp("certs"))
