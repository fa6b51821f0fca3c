"""PROXY protocol version 2 (HAProxy's ``doc/proxy-protocol.txt``), sans-IO.

A balancer in TCP mode that sends ``send-proxy-v2`` puts one binary header before the client's
first byte: a 12-byte signature, the version and command, the address family, the length of
what follows, the source and destination addresses, then optional TLVs. ``parse_header`` reads
it from the start of a buffer; ``ProxyPolicy`` says which socket peers may send one.

The header is network input: its length is checked against ``MAX_HEADER`` before anything
else is buffered, every field is checked, and a malformed header raises ``ProxyHeaderError``
(the connection is then closed: a balancer never sends one).
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

__all__ = [
    "MAX_HEADER",
    "SIGNATURE",
    "Command",
    "ProxyHeader",
    "ProxyHeaderError",
    "ProxyPolicy",
    "parse_header",
]

#: The 12 bytes every version 2 header starts with.
SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"

#: The longest header accepted, TLVs included: 16 fixed bytes, 216 for the largest address
#: block (AF_UNIX), and room for the TLVs HAProxy adds (ALPN, authority, unique id, TLS
#: details). The protocol allows 65,551 bytes; nothing we use needs them.
MAX_HEADER = 2048

_FIXED = struct.Struct(">12sBBH")
_IPV4 = struct.Struct(">4s4sHH")
_IPV6 = struct.Struct(">16s16sHH")
_UNIX_SIZE = 216
_TLV = struct.Struct(">BH")


class ProxyHeaderError(ValueError):
    """A PROXY header that breaks the protocol, or one that is not wanted."""


class Command(Enum):
    """What the balancer says the connection is."""

    #: The balancer's own connection (a health check): the socket's addresses stand.
    LOCAL = 0x0
    #: Relayed for a client: the header's addresses are the client's.
    PROXY = 0x1


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """A parsed header. ``source`` is the client's (host, port), or None when the header
    names no internet address (LOCAL, or an UNSPEC or AF_UNIX family): then the socket's
    own peer address stands. ``length`` is the header's size in bytes."""

    command: Command
    source: tuple[str, int] | None
    destination: tuple[str, int] | None
    length: int


def parse_header(data: bytes | bytearray) -> ProxyHeader | None:
    """The header at the start of ``data``, or None if more bytes are needed.

    ProxyHeaderError as soon as the bytes seen cannot start a valid header: a wrong
    signature byte, an unknown version, command or family, a length over ``MAX_HEADER`` or
    too short for its addresses, TLVs that overrun it.
    """
    seen = min(len(data), len(SIGNATURE))
    if data[:seen] != SIGNATURE[:seen]:
        raise ProxyHeaderError("no PROXY protocol v2 signature")
    if len(data) < _FIXED.size:
        return None
    _, version_command, family, rest = _FIXED.unpack_from(data)
    if version_command >> 4 != 2:
        raise ProxyHeaderError(f"PROXY protocol version {version_command >> 4}, not 2")
    try:
        command = Command(version_command & 0xF)
    except ValueError:
        raise ProxyHeaderError(f"unknown PROXY command {version_command & 0xF}") from None
    length = _FIXED.size + rest
    if length > MAX_HEADER:
        raise ProxyHeaderError(f"PROXY header of {length} bytes (at most {MAX_HEADER})")
    if len(data) < length:
        return None
    body = memoryview(data)[_FIXED.size : length]
    used, source, destination = _addresses(family, body)
    _check_tlvs(body[used:])
    if command is Command.LOCAL:
        source = destination = None
    return ProxyHeader(command, source, destination, length)


def _addresses(
    family: int, body: memoryview
) -> tuple[int, tuple[str, int] | None, tuple[str, int] | None]:
    """The bytes the address block takes, and the source and destination it names."""
    address_family, transport = family >> 4, family & 0xF
    if address_family == 0x0:  # UNSPEC: the balancer does not know; the socket's stand
        return 0, None, None
    if transport != 0x1:
        raise ProxyHeaderError(f"PROXY transport {transport} is not a stream (TCP)")
    if address_family == 0x3:
        if len(body) < _UNIX_SIZE:
            raise ProxyHeaderError("PROXY header too short for AF_UNIX addresses")
        return _UNIX_SIZE, None, None
    if address_family not in (0x1, 0x2):
        raise ProxyHeaderError(f"unknown PROXY address family {address_family}")
    layout = _IPV4 if address_family == 0x1 else _IPV6
    if len(body) < layout.size:
        raise ProxyHeaderError("PROXY header too short for its addresses")
    src, dst, src_port, dst_port = layout.unpack_from(body)
    source = (str(ipaddress.ip_address(src)), src_port)
    return layout.size, source, (str(ipaddress.ip_address(dst)), dst_port)


def _check_tlvs(tlvs: memoryview) -> None:
    """TLVs are skipped, but each must fit in the header."""
    offset = 0
    while offset < len(tlvs):
        if len(tlvs) - offset < _TLV.size:
            raise ProxyHeaderError("truncated TLV in the PROXY header")
        _, size = _TLV.unpack_from(tlvs, offset)
        offset += _TLV.size + size
        if offset > len(tlvs):
            raise ProxyHeaderError("a TLV overruns the PROXY header")


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ProxyPolicy:
    """Which socket peers (the balancers) must send a PROXY header, and how long it may take.

    ``trusted`` holds CIDR networks (``"10.0.0.0/8"``, ``"127.0.0.1"``, ``"::1/128"``).
    A connection from one of them must start with a header; from anyone else, a header is
    refused (it would let a client choose the address it is counted and logged under).
    """

    def __init__(self, trusted: Iterable[str], timeout: float = 10.0) -> None:
        networks: list[Network] = []
        for text in trusted:
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError as exc:
                raise ValueError(f"not a CIDR network: {text!r} ({exc})") from None
        if not networks:
            raise ValueError("a PROXY policy needs at least one trusted network")
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        self.networks = tuple(networks)
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"ProxyPolicy([{', '.join(repr(str(n)) for n in self.networks)}])"

    def trusts(self, peer: Any) -> bool:
        """True if the socket peer ``peer`` ((host, port, ...)) is a configured balancer."""
        if not (isinstance(peer, tuple) and peer):
            return False
        try:
            ip = ipaddress.ip_address(str(peer[0]).partition("%")[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.networks)
