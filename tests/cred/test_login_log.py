"""Issue 10: failed logins keep a log budget that one peer cannot use up.

The portal logs each failed login once, at most ``log_rate_per_minute`` lines a minute. A
guesser that fails often (from many connections) used to spend the whole minute's budget,
and everyone else's failed logins went unlogged. Each peer address now gets a share.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

import pbtyped as pb
from pbtyped.cred import Portal, login_anonymous
from pbtyped.cred import portal as portal_module
from pbtyped.runtime.logs import LogLimiter
from pbtyped.runtime.slots import address_of

from .realms import Realm


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pbtyped"]


def test_one_key_cannot_use_the_whole_budget(caplog) -> None:
    """Attack: one peer floods the limiter within a minute; the other peers' lines still
    appear, and the summary line (next minute) names the peer that went over its share."""
    now = [0.0]
    limiter = LogLimiter(6, clock=lambda: now[0], per_key=2)
    with caplog.at_level(logging.WARNING, logger="pbtyped"):
        for i in range(20):
            limiter.warning("guess %d", i, key="10.0.0.66")
        for peer in ("10.0.0.7", "10.0.0.8"):
            limiter.warning("failed from %s", peer, key=peer)
        now[0] = 61.0
        limiter.warning("next minute", key="10.0.0.66")
    assert _lines(caplog) == [
        "guess 0",
        "guess 1",
        "failed from 10.0.0.7",
        "failed from 10.0.0.8",
        "18 similar warnings were suppressed in the last minute; over their share: 10.0.0.66 (18)",
        "next minute",
    ]


def test_many_keys_still_respect_the_budget(caplog) -> None:
    """Attack: a flood from many addresses: the minute's budget still holds, and the limiter
    remembers no more keys than lines it logged."""
    now = [0.0]
    limiter = LogLimiter(5, clock=lambda: now[0], per_key=1)
    with caplog.at_level(logging.WARNING, logger="pbtyped"):
        for i in range(1000):
            limiter.warning("from %d", i, key=i)
    assert len(_lines(caplog)) == 5
    assert limiter.suppressed == 995
    assert len(limiter._shares) == 5
    with pytest.raises(ValueError, match="per_key must be 1 to per_minute"):
        LogLimiter(5, per_key=6)


@dataclass
class _Peer:
    """Stands in for the connection a login arrives on: only its address is read."""

    peer: tuple[str, int]


def test_a_guessers_failures_do_not_hide_another_peers(run, monkeypatch, caplog) -> None:
    """Attack: a guesser fails logins on many connections from one address, spending the
    portal's failed-login budget; a failed login from another address is still logged."""
    address = ["10.0.0.66"]
    monkeypatch.setattr(portal_module, "current_connection", lambda: _Peer((address[0], 4242)))

    async def body() -> None:
        portal = Portal(Realm(), [], max_failures=5, log_rate_per_minute=10)
        async with pb.serve(portal.root()) as server:
            for _ in range(4):
                async with pb.connect("127.0.0.1", server.port) as client:
                    for _ in range(5):
                        with pytest.raises(pb.UnauthorizedLogin):
                            await login_anonymous(client)
            address[0] = "10.0.0.7"
            async with pb.connect("127.0.0.1", server.port) as client:
                with pytest.raises(pb.UnauthorizedLogin):
                    await login_anonymous(client)

    with caplog.at_level(logging.WARNING, logger="pbtyped"):
        run(body)
    failed = [line for line in _lines(caplog) if "failed login" in line]
    assert len([line for line in failed if "10.0.0.66" in line]) == 5  # its default share
    assert len([line for line in failed if "10.0.0.7" in line]) == 1


def test_a_peer_is_its_host_or_its_ipv6_64() -> None:
    """Attack: a guesser with an IPv6 /64 (what one site is usually given) rotates through its
    addresses to get a share per address: the whole /64 is one peer."""
    key = address_of  # the rule the server's slots use too
    assert key(("2001:db8::1", 1, 0, 0)) == key(("2001:db8::ffff:2", 2, 0, 0)) == "2001:db8::/64"
    assert key(("2001:db8:0:1::1", 1, 0, 0)) != key(("2001:db8::1", 1, 0, 0))
    assert key(("::ffff:10.0.0.66", 1, 0, 0)) == key(("10.0.0.66", 2)) == "10.0.0.66"
    with pytest.raises(ValueError, match="log_rate_per_peer must be 1 to log_rate_per_minute"):
        Portal(Realm(), [], log_rate_per_minute=3, log_rate_per_peer=4)
