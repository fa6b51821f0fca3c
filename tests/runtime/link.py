"""A loopback proxy that counts round trips: request/answer exchanges, not time.

The proxy sits between a client and a server on 127.0.0.1 and reads the frames going each
way. A round trip starts each time the client sends a CALL after an answer (RETURN or FAIL)
reached it since its previous CALL: calls sent one after another without waiting are one
round trip, a call sent only once an answer came back is another.
"""

from __future__ import annotations

import asyncio
import struct

__all__ = ["CountingLink"]

_HEADER = struct.Struct(">II")
_CALL, _RETURN, _FAIL = 1, 2, 3


class _Frames:
    """Cuts one direction's bytes into frames and gives each frame's message kind."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def kinds(self, data: bytes) -> list[int]:
        self._buffer += data
        out = []
        while len(self._buffer) >= 8:
            body, attachments = _HEADER.unpack_from(self._buffer)
            end = 8 + body + attachments
            if len(self._buffer) < end:
                break
            # A message is a short array whose first item is a small kind: [0x8n, kind, ...].
            out.append(self._buffer[9])
            del self._buffer[:end]
        return out


class CountingLink:
    """``async with CountingLink(server_port) as link``: connect clients to ``link.port``.

    ``rounds`` is the number of round trips so far; ``kinds_up`` the kinds of the messages
    the client sent, in order, and ``log`` both directions as ``("up"|"down", kind)``.
    """

    def __init__(self, server_port: int) -> None:
        self._server_port = server_port
        self._listener: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.rounds = 0
        self.log: list[tuple[str, int]] = []
        self._answered = True  # the first call starts a round trip

    async def __aenter__(self) -> CountingLink:
        self._listener = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._listener.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._listener is not None
        self._listener.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._listener.wait_closed()

    def reset(self) -> None:
        """Count from zero again (after the handshake and the root, say)."""
        self.rounds = 0
        self.log.clear()
        self._answered = True

    @property
    def calls(self) -> int:
        """CALL messages the client sent."""
        return sum(1 for way, kind in self.log if way == "up" and kind == _CALL)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._server_port)
        for task in (
            asyncio.ensure_future(self._pipe(reader, up_writer, "up")),
            asyncio.ensure_future(self._pipe(up_reader, writer, "down")),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, way: str
    ) -> None:
        frames = _Frames()
        try:
            while data := await reader.read(65536):
                for kind in frames.kinds(data):
                    self._saw(way, kind)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def _saw(self, way: str, kind: int) -> None:
        self.log.append((way, kind))
        if way == "up" and kind == _CALL:
            if self._answered:
                self.rounds += 1
                self._answered = False
        elif way == "down" and kind in (_RETURN, _FAIL):
            self._answered = True
