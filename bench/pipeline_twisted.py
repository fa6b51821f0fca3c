"""Twisted PB's side of bench/pipeline.py: chains of dependent calls, each awaited (PB cannot
send a call on a result it has not received).

    python bench/pipeline_twisted.py server               # prints PORT n; stops when stdin closes
    python bench/pipeline_twisted.py client PORT REPS 1,3,10   # prints RESULT {chain: [s, ...]}
"""

from __future__ import annotations

import sys
import time
from typing import Any

from common import announce_port, emit_result, on_stdin_closed
from twisted.internet import defer, reactor
from twisted.spread import pb


class Node(pb.Referenceable):
    def __init__(self, depth: int) -> None:
        self.depth = depth

    def remote_node(self) -> Node:
        return Node(self.depth + 1)


class Root(pb.Root):
    def remote_node(self) -> Node:
        return Node(1)


def serve() -> None:
    listening = reactor.listenTCP(0, pb.PBServerFactory(Root()), interface="127.0.0.1")
    announce_port(listening.getHost().port)
    on_stdin_closed(lambda: reactor.callFromThread(reactor.stop))
    reactor.run()


def client(port: int, reps: int, chains: list[int]) -> None:
    factory = pb.PBClientFactory()
    reactor.connectTCP("127.0.0.1", port, factory)
    outcome: dict[str, Any] = {}

    async def go() -> dict[int, list[float]]:
        root = await factory.getRootObject()
        times: dict[int, list[float]] = {}
        for n in chains:
            runs = times.setdefault(n, [])
            for _ in range(reps + 1):  # the first is a warm-up
                start = time.perf_counter()
                ref = await root.callRemote("node")
                for _ in range(n - 1):
                    ref = await ref.callRemote("node")
                runs.append(time.perf_counter() - start)
            del runs[0]
        return times

    def done(result: Any) -> None:
        outcome["result"] = result
        factory.disconnect()
        reactor.stop()

    defer.ensureDeferred(go()).addBoth(done)
    reactor.run()
    result = outcome.get("result")
    if not isinstance(result, dict):
        raise SystemExit(f"Twisted PB client failed: {result}")
    emit_result(result)


def main() -> None:
    if sys.argv[1] == "server":
        serve()
    else:
        client(int(sys.argv[2]), int(sys.argv[3]), [int(n) for n in sys.argv[4].split(",")])


if __name__ == "__main__":
    main()
