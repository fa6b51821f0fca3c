"""What one connection's broker keeps: a server holds one per open connection."""

from __future__ import annotations

import gc
import tracemalloc

from pbtyped import Limits, Registry
from pbtyped.protocol.broker import Broker
from pbtyped.protocol.events import CallReceived

from .wiring import Echoer, hello, msg

#: The whole connection's goal (issue 11): the broker is only part of it.
BUDGET = 4 * 1024


def served_one_call(registry: Registry, root: Echoer, limits: Limits) -> Broker:
    """A server's broker after the handshake and one call answered, as the runtime makes it."""
    broker = Broker(registry=registry, root=root, limits=limits)
    broker.initiate()
    broker.receive_data(hello())
    [call] = broker.receive_data(msg(1, 1, [0, 0], "echo", ["hello"]))
    assert isinstance(call, CallReceived)
    broker.send_return(call.question_id, "hello")
    assert broker.take_pending() == b""
    return broker


def test_a_served_connection_keeps_less_than_the_connection_budget() -> None:
    registry, root, limits = Registry(), Echoer(), Limits()
    kept = [served_one_call(registry, root, limits) for _ in range(20)]  # caches filled
    count = 200
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [served_one_call(registry, root, limits) for _ in range(count)]
        gc.collect()
        per_broker = (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()
    assert len(kept) == count
    assert per_broker < BUDGET, f"{per_broker:.0f} bytes per broker"
