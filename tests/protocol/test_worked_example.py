"""The bytes shown in docs/protocol.md section 9, pinned so the document stays true."""

from __future__ import annotations

from pbtyped import Registry
from pbtyped.protocol.broker import Broker
from pbtyped.protocol.events import AnswerReceived

from .wiring import Echoer

HELLO = (
    "00 00 00 56 00 00 00 00 82 00 a5 68 70 72 6f 74 6f 63 6f 6c 67 70 62 74 79 70 65 64 "
    "67 76 65 72 73 69 6f 6e 01 6e 6d 61 78 5f 66 72 61 6d 65 5f 73 69 7a 65 1a 01 00 00 "
    "00 6d 6d 61 78 5f 62 6f 64 79 5f 73 69 7a 65 1a 00 40 00 00 68 66 65 61 74 75 72 65 "
    "73 81 67 63 6f 6c 75 6d 6e 73"
)
CALL = "00 00 00 0f 00 00 00 00 85 01 01 82 00 00 64 65 63 68 6f 81 62 68 69"
RETURN = "00 00 00 06 00 00 00 00 83 02 01 62 68 69"


def test_echo_hi_bytes_match_the_document() -> None:
    registry = Registry()
    client = Broker(registry=registry)
    server = Broker(registry=registry, root=Echoer())
    hello_c, hello_s = client.initiate(), server.initiate()
    server.receive_data(hello_c)
    client.receive_data(hello_s)
    assert hello_c.hex(" ") == HELLO
    qid, call = client.send_call(client.root_reference(), "echo", ("hi",), {})
    assert call.hex(" ") == CALL
    [event] = server.receive_data(call)
    answer = server.send_return(event.question_id, "hi")
    assert answer.hex(" ") == RETURN
    assert client.receive_data(answer) == [AnswerReceived(question_id=qid, value="hi")]
