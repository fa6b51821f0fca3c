"""Twisted Perspective Broker under the bench, on Twisted's default reactor.

The workloads are the shared coroutines of common.py, driven by ``defer.ensureDeferred``:
awaiting ``callRemote``'s Deferred is the same work an ``inlineCallbacks`` client does. Records
are a ``pb.Copyable``/``pb.RemoteCopy`` subclass of the shared dataclass, registered with
``setUnjellyableForClass`` on both sides.
"""

from __future__ import annotations

from typing import Any

from common import (
    ECHO,
    ECHO_BYTES,
    ECHO_RECORDS,
    Config,
    Record,
    Target,
    announce_port,
    emit_result,
    on_stdin_closed,
    pin,
    run_workloads,
    worker_args,
)
from twisted.internet import defer, reactor
from twisted.spread import pb


class TRecord(Record, pb.Copyable, pb.RemoteCopy):
    """Record, passed by copy the PB way."""


pb.setUnjellyableForClass(TRecord, TRecord)


class Echoer(pb.Root):
    def remote_echo(self, st: Any) -> Any:
        return st

    def remote_echo_bytes(self, data: Any) -> Any:
        return data

    def remote_echo_records(self, records: Any) -> Any:
        return records


def serve(port: int) -> None:
    listening = reactor.listenTCP(port, pb.PBServerFactory(Echoer()), interface="127.0.0.1")
    announce_port(listening.getHost().port)
    on_stdin_closed(lambda: reactor.callFromThread(reactor.stop))
    reactor.run()


def client(port: int, config: str, server_pid: int) -> dict[str, Any]:
    cfg = Config.from_json(config)
    factory = pb.PBClientFactory()
    reactor.connectTCP("127.0.0.1", port, factory)
    outcome: dict[str, Any] = {}

    async def gather(coros: list[Any]) -> Any:
        return await defer.gatherResults([defer.ensureDeferred(c) for c in coros])

    async def go() -> dict[str, Any]:
        root = await factory.getRootObject()
        target = Target(
            echo=lambda x: root.callRemote(ECHO, x),
            echo_bytes=lambda x: root.callRemote(ECHO_BYTES, x),
            echo_records=lambda x: root.callRemote(ECHO_RECORDS, x),
            gather=gather,
            record_cls=TRecord,
            server_pid=server_pid,
        )
        return await run_workloads(target, cfg)

    def done(result: Any) -> None:
        outcome["result"] = result
        factory.disconnect()
        reactor.stop()

    defer.ensureDeferred(go()).addBoth(done)
    reactor.run()
    result = outcome.get("result")
    if not isinstance(result, dict):
        raise SystemExit(f"Twisted PB client failed: {result}")
    return result


def main() -> None:
    args = worker_args()
    pin(args.cpu)
    if args.role == "server":
        serve(args.port)
    else:
        result = client(args.port, args.config, args.server_pid)
        emit_result({"api": "callRemote, pb.Copyable records", **result})


if __name__ == "__main__":
    main()
