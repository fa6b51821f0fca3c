"""Outbox: answers leave in one write per read, calls at once or at the end of their turn."""

from __future__ import annotations

from pbtyped.runtime.outbox import FLUSH_SIZE, Outbox

from .fakes import FakeLoop, FakeTransport


class Source:
    """The broker's pending messages: what ``take_pending`` hands out next."""

    def __init__(self) -> None:
        self.pending = b""

    def take_pending(self) -> bytes:
        pending, self.pending = self.pending, b""
        return pending


def outbox() -> tuple[Outbox, FakeTransport, FakeLoop, Source]:
    loop, source, transport = FakeLoop(), Source(), FakeTransport()
    box = Outbox(loop, source)
    box.transport = transport
    return box, transport, loop, source


def test_answers_gathered_leave_in_one_write_with_the_pending_messages_last() -> None:
    box, transport, _, source = outbox()
    box.write_later(b"a1")
    box.write_later(b"")  # nothing to send: not a message
    box.write_later(b"a2")
    assert transport.writes == []
    source.pending = b"R"
    box.write(b"a3")
    assert transport.writes == [b"a1a2a3R"]
    box.write(b"")
    assert transport.writes == [b"a1a2a3R"]  # nothing left: no empty write


def test_answers_leave_early_once_a_flush_size_piles_up() -> None:
    box, transport, _, _ = outbox()
    chunk = b"x" * (FLUSH_SIZE // 4)
    for _ in range(3):
        box.write_later(chunk)
    assert transport.writes == []
    box.write_later(chunk)
    assert transport.writes == [chunk * 4]


def test_the_first_call_of_a_turn_leaves_at_once_the_rest_at_its_end() -> None:
    box, transport, loop, _ = outbox()
    box.write_call(b"c1")
    assert transport.writes == [b"c1"]
    assert not box.burst_flush
    box.write_call(b"c2")
    box.write_call(b"c3")
    assert transport.writes == [b"c1"]
    assert box.burst_flush
    assert len(loop.soon) == 1  # one end-of-turn write, however many calls
    loop.run_soon()
    assert transport.writes == [b"c1", b"c2c3"]
    assert not box.burst_flush
    box.write_call(b"c4")  # the next turn: at once again
    assert transport.writes == [b"c1", b"c2c3", b"c4"]


def test_after_any_write_the_next_call_leaves_at_once() -> None:
    box, transport, loop, _ = outbox()
    box.write_call(b"c1")
    box.write_later(b"a1")
    box.write(b"")  # the end of a read, say: the answers it produced
    assert transport.writes == [b"c1", b"a1"]
    box.write_call(b"c2")  # made by a task the read woke: at once
    box.write_call(b"c3")
    assert transport.writes == [b"c1", b"a1", b"c2"]
    loop.run_soon()
    assert transport.writes == [b"c1", b"a1", b"c2", b"c3"]


def test_nothing_is_written_before_the_connection_is_made_or_once_it_closes() -> None:
    box, transport, _, _ = outbox()
    box.transport = None
    box.write(b"early")
    box.transport = transport
    transport.closing = True
    box.write(b"late")
    assert transport.writes == []


def test_a_wakeup_schedules_one_write_of_the_pending_messages() -> None:
    box, transport, loop, source = outbox()
    source.pending = b"R1"
    box.wakeup()
    box.wakeup()
    assert len(loop.soon) == 1
    loop.run_soon()
    assert transport.writes == [b"R1"]
    source.pending = b"R2"
    box.wakeup()  # scheduled again after the first one ran
    loop.run_soon()
    assert transport.writes == [b"R1", b"R2"]


def test_a_wakeup_after_the_loop_closed_is_ignored() -> None:
    box, transport, loop, _ = outbox()
    loop.closed = True
    box.wakeup()  # from a garbage-collector callback, say: must not raise
    assert loop.soon == []
    assert transport.writes == []
