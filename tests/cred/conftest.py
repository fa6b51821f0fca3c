"""Fixtures for the login, Viewable and TLS tests (real sockets on 127.0.0.1)."""

from __future__ import annotations

import pytest

from pbtyped.cred import InMemoryScramStore
from pbtyped.cred.devcerts import DevCertificates, write_dev_certificates

from ..support import eventually

__all__ = ["ITERATIONS", "eventually"]

#: Records for tests use RFC 7677's floor, to keep each login fast.
ITERATIONS = 4096


@pytest.fixture(scope="session")
def store() -> InMemoryScramStore:
    """alice/wonderland and bob/builder (records only, made once per session)."""
    users = InMemoryScramStore()
    users.add_user("alice", "wonderland", iterations=ITERATIONS)
    users.add_user("bob", "builder", iterations=ITERATIONS)
    return users


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> DevCertificates:
    """A development CA with the server and client certificates it signed."""
    return write_dev_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def rogue(tmp_path_factory: pytest.TempPathFactory) -> DevCertificates:
    """Another CA and its certificates, which nobody in the tests trusts."""
    return write_dev_certificates(tmp_path_factory.mktemp("rogue"))
