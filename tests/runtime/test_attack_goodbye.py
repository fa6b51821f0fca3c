"""Attack: many GOODBYEs with a grace while a call runs (docs/security.md, "sends GOODBYEs").

A peer's GOODBYE with a grace makes the server close its side once no call is under way: it
looks again every 20 ms while one is. Each GOODBYE must not start a watch of its own: a peer
that sends thousands (~20 bytes each) while one call of its own runs would otherwise keep
thousands of timers re-arming 50 times a second, as long as it keeps that call running.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import pbtyped as pb

from ..support import eventually
from .test_drain import Slow, frame, hello, read_message

PING, PONG, GOODBYE = 11, 12, 13


def test_many_goodbyes_keep_one_watch_for_the_end_of_the_calls(run) -> None:
    async def body() -> None:
        loop = asyncio.get_running_loop()
        armed: set[int] = set()  # the server's watches for its idle line, scheduled not run
        call_later = loop.call_later
        tokens = itertools.count()

        def counted(delay: float, callback: Callable[..., Any], *args: Any) -> Any:
            if getattr(callback, "__name__", "") != "_leave_when_idle":
                return call_later(delay, callback, *args)
            token = next(tokens)

            def ran() -> None:
                armed.discard(token)
                callback(*args)

            armed.add(token)
            return call_later(delay, ran)

        loop.call_later = counted  # type: ignore[method-assign,assignment]
        root = Slow()
        server = await pb.serve(root).start()
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(hello("goodbye", "keepalive") + frame([1, 1, [0, 0], "hold", [1]]))
            assert (await asyncio.wait_for(read_message(reader), 5))[0] == 0
            await eventually(lambda: root.started == 1)
            goodbyes = b"".join(frame([GOODBYE, "bye", 60_000, 0]) for _ in range(200))
            writer.write(goodbyes + frame([PING, 7]))
            assert await asyncio.wait_for(read_message(reader), 5) == [PONG, 7]
            # Every GOODBYE was handled before the PONG went: what is armed now stays armed.
            assert len(armed) <= 1, f"{len(armed)} watches for one line"
            root.release.set()
            answer = await asyncio.wait_for(read_message(reader), 5)
            assert answer == [2, 1, 1]  # the call ends; the server then closes its side
            await eventually(lambda: not server.connections)
            assert not armed
        finally:
            delattr(loop, "call_later")
            writer.close()
            await server.aclose()

    run(body)
