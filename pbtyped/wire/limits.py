"""Decode limits: every value read from the network is bounded by one of these."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Safe defaults for what a peer may send and hold; pass your own to ``serve``/``connect``.

    Every limit applies per connection unless it says otherwise. Sizes are checked against the
    frame header before the body is read, and against our own outgoing frames before they are
    sent (a too large argument fails only that call, locally).
    """

    #: Whole frame (CBOR body plus raw attachments), in bytes.
    max_frame_size: int = 16 * 1024 * 1024
    #: The CBOR body alone. Decoded Python objects are often ~10x larger than their CBOR (at
    #: most ``max_decoded_ratio`` times: see docs/security.md), so this is smaller than the
    #: frame; large ``bytes`` travel as attachments and do not count here.
    #: (The smaller of this and ``max_frame_size`` applies.)
    max_body_size: int = 4 * 1024 * 1024
    #: Nesting of containers and tags in one message.
    max_depth: int = 64
    #: Decimal digits of a bignum (tags 2, 3). 4,300 is Python's own int/str conversion limit
    #: (``sys.int_info.default_max_str_digits``): any integer admitted here prints and parses
    #: without error, and integer arithmetic on it stays cheap (about 1.8 KiB of bignum).
    max_int_digits: int = 4300
    #: Digits of a decimal fraction's mantissa (tag 4, and tag 41008). Building a ``Decimal``
    #: from an integer is quadratic in its digits: 1,000 digits cost ~15 us, 4,300 ~0.3 ms,
    #: 10,000 ~1.5 ms. 1,000 is far beyond money (SQL's 38) and Python's default precision (28).
    max_decimal_digits: int = 1000
    #: Largest exponent (either sign) of a decimal fraction: ``int(Decimal("1E+100000"))``
    #: takes 0.3 s, so a tiny frame could cost the receiver that much; at 1,000 an admitted
    #: decimal converts to an integer of at most ~2,000 digits.
    max_decimal_exponent: int = 1000
    #: What one frame may decode to, as a multiple of its CBOR body (plus 64 KiB for any
    #: frame, so small messages never count): checked before decoding, and by our tags
    #: (copies, columns, sets, ...) before they build anything. Ordinary data decodes to
    #: 5-25x its CBOR; a body of one-byte empty maps would be ~72x, nested one-element arrays
    #: ~98x. A frame over it is refused: the call it carries fails, naming this limit.
    max_decoded_ratio: int = 32
    #: Admit only str and bytes as map keys and set members: keeps hash flooding (many colliding
    #: int keys) out of reach. Turn off only for trusted peers.
    strict_map_keys: bool = True
    #: ``bytes`` values at least this long travel as raw attachments beside the CBOR body.
    #: (Integers wider than this many bytes cannot be sent.)
    attachment_threshold: int = 64 * 1024
    #: Our objects the peer may hold references to at once.
    max_exports: int = 100_000
    #: The peer's objects we accept references to at once.
    max_imports: int = 100_000
    #: Calls from the peer running at once; beyond it we stop reading from the peer until one
    #: finishes (backpressure through TCP, nothing buffered). Calls that themselves wait on
    #: calls back to the same peer count too: keep this above such nesting.
    max_calls_in_flight: int = 1024
    #: Connections one server holds at once, sockets still in their TLS handshake included;
    #: more are refused with an Abort. (Server only; serve() may lower it to fit the
    #: process's open-file limit, and says so in its log.)
    max_connections: int = 1024
    #: Seconds for the peer's Hello to arrive after the TCP connection is made.
    handshake_timeout: float = 10.0
    #: Seconds a started frame may take to arrive whole (slow-drip senders are cut off).
    frame_timeout: float = 30.0
    #: Seconds without any traffic and no call pending in either direction before the
    #: connection is closed; None (the default) keeps idle connections, as PB does.
    idle_timeout: float | None = None
    #: Warnings about misbehaving peers logged per minute (per server or client); the rest are
    #: counted and reported in one summary line.
    log_rate_per_minute: int = 30
    #: Connections one peer address (an IPv4 address, an IPv6 /64) may hold on a server at
    #: once, counted once the TLS handshake (if any) is done (server only). Well below
    #: ``max_connections`` so one peer cannot take every slot, yet generous: clients behind
    #: one NAT or proxy share an address. 64 of 1,024 takes 16 addresses to fill the server.
    max_connections_per_address: int = 64
    #: Seconds a server connection may stay idle while it holds nothing: no call in flight
    #: either way, no object of ours but the root, none of the peer's (server only; None
    #: turns it off). Logging in (a perspective) ends it. 60 s is ample for a login, even
    #: one that waits on a person typing a password, while a peer parking connections must
    #: keep sending to keep them.
    prelogin_idle_timeout: float | None = 60.0
    #: Seconds for a TLS handshake (asyncio's ``ssl_handshake_timeout``; asyncio's own default
    #: is 60 s). Sockets still in their TLS handshake count against ``max_connections``.
    tls_handshake_timeout: float = 10.0
    #: Bytes held at once by partial frames, by the arguments (as received) of calls in
    #: flight and by stream items not yet taken by their consumers, across all connections
    #: of a server. Beyond it the server stops reading from
    #: connections that hold any, until it drops (see docs/security.md for the worst case).
    #: At least ``max_frame_size``, so one frame alone can always arrive.
    max_bytes_held: int = 256 * 1024 * 1024
    #: Keepalive (when both Hellos list "keepalive"): seconds with nothing received from the
    #: peer after which we send it a PING, and again each such interval while it stays
    #: silent; None sends none (the peer's PINGs are still answered). Any frame is a sign of
    #: life; the clock stands still while the peer is not reading what we send.
    keepalive_interval: float | None = 20.0
    #: Intervals of silence after which the peer is declared gone: the connection closes and
    #: calls waiting for an answer fail with ConnectionLost ("the peer stopped answering").
    #: With the defaults a frozen peer or a dead line is found within about a minute.
    keepalive_misses: int = 3
    #: Answers the peer asked this side to keep for promise pipelining (its calls with the
    #: ``retain`` option), known or not yet, at once. Each holds its result until the peer's
    #: FINISH; a call beyond it fails with LimitExceeded (it does not run).
    max_retained_answers: int = 1024
    #: Calls in a chain of calls on answers not yet known (a call on the answer of a call on
    #: the answer of ...): a longer chain fails with LimitExceeded at the call too deep.
    max_pipeline_depth: int = 64
    #: Streams open at once in each direction (async iterators passed as arguments or
    #: results). One beyond it, from the peer, fails the call or answer that carried it.
    max_streams: int = 256
    #: Bytes of stream frames the peer may send on each stream we read before we grant more
    #: (announced in our Hello): what a consumer that stops reading holds at most, per stream,
    #: with the one frame that may cross the last of the credit (up to ``max_frame_size``: an
    #: item goes alone), and how far ahead of it the producer may run.
    stream_window: int = 256 * 1024
    #: Largest frame of stream items we send (items ready together are batched up to it; a
    #: larger single item goes alone): what a call waiting behind a stream waits for at most.
    stream_frame_size: int = 64 * 1024
    #: Of the ``log_rate_per_minute`` warnings, the most that name one peer address (an IPv4
    #: address, an IPv6 /64) in a minute (server only), so that one peer cannot spend the
    #: whole budget and hide the lines about everyone else; the summary line names the peers
    #: that went over. At most ``log_rate_per_minute`` is used.
    log_rate_per_peer: int = 5

    def __post_init__(self) -> None:
        if not 64 <= self.max_frame_size <= 0xFFFF_FFFF:
            raise ValueError("max_frame_size must be between 64 and 2**32-1 bytes")
        if self.max_body_size < 64:
            raise ValueError("max_body_size must be at least 64 bytes")
        for name in (
            "max_exports",
            "max_imports",
            "max_calls_in_flight",
            "max_connections",
            "max_connections_per_address",
            "max_retained_answers",
            "max_pipeline_depth",
            "max_streams",
            "keepalive_misses",
            "log_rate_per_minute",
            "log_rate_per_peer",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("handshake_timeout", "frame_timeout", "tls_handshake_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        for name in ("idle_timeout", "prelogin_idle_timeout", "keepalive_interval"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive or None")
        if self.max_bytes_held < self.max_frame_size:
            raise ValueError(
                f"max_bytes_held ({self.max_bytes_held}) must be at least max_frame_size "
                f"({self.max_frame_size}): one frame alone must always be able to arrive"
            )
        if not 4 <= self.max_depth <= 1000:
            raise ValueError("max_depth must be between 4 and 1000")
        for name in ("max_int_digits", "max_decimal_digits", "max_decimal_exponent"):
            if not 20 <= getattr(self, name) <= 1_000_000:
                # 20 digits: every 64-bit integer; beyond a million, decoding is quadratic.
                raise ValueError(f"{name} must be between 20 and 1,000,000")
        if not 16 <= self.max_decoded_ratio <= 1024:
            # Below 16x ordinary data (strings, records) would be refused.
            raise ValueError("max_decoded_ratio must be between 16 and 1024")
        for name in ("stream_window", "stream_frame_size"):
            if not 1024 <= getattr(self, name) <= 2**31:
                raise ValueError(f"{name} must be between 1 KiB and 2 GiB")
        if self.attachment_threshold < 1024:
            # Below this, the bytes inside a bignum could be mistaken for an attachment.
            raise ValueError("attachment_threshold must be at least 1024 bytes")
