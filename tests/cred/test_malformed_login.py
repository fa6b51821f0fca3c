"""A server that breaks the login protocol: the client raises RemoteProtocolError (never a
plain ProtocolError, which is only raised as a subclass) and closes that connection."""

from __future__ import annotations

from typing import Any

import pytest

import pbtyped as pb
from pbtyped.cred import login, login_anonymous

from ..support import eventually


class Liar(pb.Root):
    """Answers the login calls with shapes the protocol does not allow."""

    def __init__(self, start: Any, finish: Any = None, anonymous: Any = None) -> None:
        self.start, self.finish, self.anonymous = start, finish, anonymous

    def remote_scram_start(self, caller: object, first: str) -> Any:
        return self.start

    def remote_login_anonymous(self, caller: object, mind: object) -> Any:
        return self.anonymous


@pytest.mark.parametrize(
    ("root", "how", "message"),
    [
        (Liar(start="not a pair"), "password", "the server's answer to scram_start is malformed"),
        (
            Liar(start=[1, "r=x,s=c2FsdA==,i=4096"]),
            "password",
            "the login answer is not a reference but int",
        ),
        (
            Liar(start=None, anonymous="me"),
            "anonymous",
            "the login answer is not a reference but str",
        ),
    ],
)
def test_a_malformed_login_answer_closes_the_connection(
    run: Any, root: Liar, how: str, message: str
) -> None:
    async def body() -> None:
        async with pb.serve(root, "127.0.0.1", 0) as server:
            async with pb.connect("127.0.0.1", server.port) as client:
                if how == "password":
                    attempt = login(client, "alice", "secret")
                else:
                    attempt = login_anonymous(client)
                with pytest.raises(pb.RemoteProtocolError) as info:
                    await attempt
                assert str(info.value) == f"{message}; the connection is closed"
                assert type(info.value) is pb.RemoteProtocolError
                await eventually(lambda: not client.is_connected)

    run(body)
