"""Fixtures for the login, Viewable and TLS tests (real sockets on 127.0.0.1)."""

from __future__ import annotations

import pytest

from pbtyped.cred import InMemoryScramStore

from ..support import eventually
from .certs import Certificates, have_openssl, make_certificates

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
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """Certificates made with the openssl command (the cryptography package is absent)."""
    if not have_openssl():
        pytest.skip("the openssl command is needed to make test certificates")
    return make_certificates(tmp_path_factory.mktemp("certs"))
