"""PROXY protocol v2 headers (HAProxy's doc/proxy-protocol.txt, section 2.2), built by hand."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbtyped.wire.proxy import (
    MAX_HEADER,
    SIGNATURE,
    Command,
    ProxyHeader,
    ProxyHeaderError,
    ProxyPolicy,
    parse_header,
)

PROXY, LOCAL = 0x21, 0x20
TCP4, TCP6, UNIX, UNSPEC, UDP4 = 0x11, 0x21, 0x31, 0x00, 0x12


def header(version_command: int, family: int, body: bytes) -> bytes:
    return SIGNATURE + struct.pack(">BBH", version_command, family, len(body)) + body


def addresses(src: str, sport: int, dst: str, dport: int) -> bytes:
    """The address block of an AF_INET or AF_INET6 header (by the addresses' version)."""
    return (
        ipaddress.ip_address(src).packed
        + ipaddress.ip_address(dst).packed
        + struct.pack(">HH", sport, dport)
    )


ipv4 = ipv6 = addresses


def tlv(kind: int, value: bytes) -> bytes:
    return struct.pack(">BH", kind, len(value)) + value


def test_ipv4_proxy_header() -> None:
    data = header(PROXY, TCP4, ipv4("203.0.113.7", 51000, "10.0.0.1", 8000))
    assert len(data) == 28
    assert parse_header(data + b"after") == ProxyHeader(
        Command.PROXY, ("203.0.113.7", 51000), ("10.0.0.1", 8000), 28
    )


def test_ipv6_proxy_header_with_tlvs() -> None:
    body = ipv6("2001:db8::1", 443, "2001:db8::2", 8000) + tlv(0x01, b"h2") + tlv(0x04, b"")
    data = header(PROXY, TCP6, body)
    parsed = parse_header(data)
    assert parsed == ProxyHeader(
        Command.PROXY, ("2001:db8::1", 443), ("2001:db8::2", 8000), len(data)
    )


def test_local_command_keeps_the_socket_address() -> None:
    """LOCAL (the balancer's own health check) names no client, whatever addresses follow."""
    for data in (
        header(LOCAL, UNSPEC, b""),
        header(LOCAL, TCP4, ipv4("1.2.3.4", 1, "5.6.7.8", 2)),
    ):
        assert parse_header(data) == ProxyHeader(Command.LOCAL, None, None, len(data))


def test_unspec_and_unix_families_name_no_internet_address() -> None:
    assert parse_header(header(PROXY, UNSPEC, b"")) == ProxyHeader(Command.PROXY, None, None, 16)
    unix = header(PROXY, UNIX, b"/s".ljust(216, b"\0"))
    assert parse_header(unix) == ProxyHeader(Command.PROXY, None, None, 232)


def test_every_prefix_asks_for_more_bytes() -> None:
    data = header(PROXY, TCP4, ipv4("203.0.113.7", 1, "10.0.0.1", 2) + tlv(0x05, b"id"))
    for end in range(len(data)):
        assert parse_header(data[:end]) is None
    assert parse_header(data) is not None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x00\x00\x10", "no PROXY protocol v2 signature"),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "no PROXY protocol v2 signature"),
        (header(0x11, TCP4, bytes(12)), "PROXY protocol version 1, not 2"),
        (header(0x22, TCP4, bytes(12)), "unknown PROXY command 2"),
        (header(PROXY, 0x41, bytes(12)), "unknown PROXY address family 4"),
        (header(PROXY, UDP4, bytes(12)), "PROXY transport 2 is not a stream"),
        (header(PROXY, TCP4, bytes(11)), "too short for its addresses"),
        (header(PROXY, TCP6, bytes(35)), "too short for its addresses"),
        (header(PROXY, UNIX, bytes(215)), "too short for AF_UNIX addresses"),
        (header(PROXY, TCP4, bytes(12) + b"\x01\x00"), "truncated TLV"),
        (header(PROXY, TCP4, bytes(12) + b"\x01\x00\x05ab"), "a TLV overruns"),
    ],
)
def test_malformed_headers_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(ProxyHeaderError, match=message):
        parse_header(data)


def test_length_is_checked_before_the_body_arrives() -> None:
    """A header claiming 65,535 bytes is refused from its 16 fixed bytes alone."""
    fixed = SIGNATURE + struct.pack(">BBH", PROXY, TCP4, 0xFFFF)
    with pytest.raises(
        ProxyHeaderError, match=f"PROXY header of 65551 bytes \\(at most {MAX_HEADER}"
    ):
        parse_header(fixed)
    at_limit = header(
        PROXY, TCP4, ipv4("1.2.3.4", 1, "5.6.7.8", 2) + tlv(0x04, bytes(MAX_HEADER - 31))
    )
    assert len(at_limit) == MAX_HEADER
    assert parse_header(at_limit) is not None


def test_policy_matches_networks() -> None:
    policy = ProxyPolicy(["10.0.0.0/8", "127.0.0.1", "2001:db8::/32"])
    assert policy.trusts(("10.1.2.3", 5000))
    assert policy.trusts(("127.0.0.1", 1))
    assert policy.trusts(("::ffff:127.0.0.1", 1, 0, 0))
    assert policy.trusts(("2001:db8::5", 1, 0, 0))
    assert not policy.trusts(("127.0.0.2", 1))
    assert not policy.trusts(("192.0.2.1", 1))
    assert not policy.trusts(None)
    assert not policy.trusts(("not an address", 1))
    with pytest.raises(ValueError, match="not a CIDR network: 'ten'"):
        ProxyPolicy(["ten"])
    with pytest.raises(ValueError, match="at least one trusted network"):
        ProxyPolicy([])


@given(st.binary(max_size=300))
def test_any_bytes_parse_or_fail_cleanly(data: bytes) -> None:
    _check(data)


@given(
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(max_size=300),
    st.integers(0, 64),
)
def test_any_header_after_the_signature_parses_or_fails_cleanly(
    version_command: int, family: int, body: bytes, cut: int
) -> None:
    data = header(version_command, family, body)
    _check(data[: len(data) - cut] if cut else data)


def _check(data: bytes) -> None:
    try:
        parsed = parse_header(data)
    except ProxyHeaderError:
        return
    if parsed is not None:
        assert 16 <= parsed.length <= min(len(data), MAX_HEADER)
        assert parsed.length == 16 + int.from_bytes(data[14:16], "big")
