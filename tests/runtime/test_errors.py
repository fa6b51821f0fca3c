"""Item 5: remote errors arrive as the same registered class, others as RemoteError."""

from __future__ import annotations

import logging

import pytest

import pbtyped as pb


class MyError(pb.Error):
    pass


class MyError2(Exception):
    pass


class Fussy(MyError):
    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"code {code}: {detail}")


class Breaker(pb.Root):
    def remote_broken(self) -> None:
        secret_local = "hunter2"  # must never reach the client
        raise MyError("fall down go boom" + secret_local[:0])

    def remote_broken2(self) -> None:
        raise MyError2("hadda owie")

    async def remote_async_broken(self) -> None:
        raise MyError("async boom")

    def remote_fussy(self) -> None:
        raise Fussy(7, "needs two args")

    def remote_unregistered_expected(self) -> None:
        raise pb.Error("expected but unregistered")


def _registry() -> pb.Registry:
    reg = pb.Registry()
    reg.register_error(MyError)
    reg.register_error(Fussy)
    return reg


async def _root(server: pb.Server, client: pb.Client) -> pb.RemoteReference:
    return await client.root()


def test_registered_error_arrives_as_the_same_class(run, caplog) -> None:
    async def body() -> None:
        async with (
            pb.serve(Breaker(), registry=_registry()) as server,
            pb.connect("127.0.0.1", server.port, registry=_registry()) as client,
        ):
            root = await client.root()
            with pytest.raises(MyError) as info:
                await root.call_remote("broken")
            assert type(info.value) is MyError
            assert str(info.value) == "fall down go boom"
            assert info.value.remote_traceback is None
            with pytest.raises(MyError, match="async boom"):
                await root.call_remote("async_broken")
            # A class whose __init__ wants other arguments still arrives, without running it.
            with pytest.raises(Fussy, match="code 7: needs two args"):
                await root.call_remote("fussy")

    with caplog.at_level(logging.DEBUG, logger="pbtyped"):
        run(body)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_unregistered_error_arrives_as_remote_error_and_is_logged_once(run, caplog) -> None:
    async def body() -> None:
        async with (
            pb.serve(Breaker(), registry=_registry()) as server,
            pb.connect("127.0.0.1", server.port, registry=_registry()) as client,
        ):
            root = await client.root()
            with pytest.raises(pb.RemoteError) as info:
                await root.call_remote("broken2")
            assert info.value.remote_type == f"{__name__}.MyError2"
            assert info.value.message == "hadda owie"
            assert info.value.remote_traceback is None
            assert "Traceback" not in str(info.value)

    with caplog.at_level(logging.DEBUG, logger="pbtyped"):
        run(body)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "remote_broken2" in errors[0].getMessage()
    assert errors[0].exc_info is not None
    assert errors[0].exc_info[0] is MyError2


def test_expected_but_unregistered_error_is_remote_error_and_not_logged(run, caplog) -> None:
    async def body() -> None:
        async with pb.serve(Breaker()) as server, pb.connect("127.0.0.1", server.port) as client:
            root = await client.root()
            with pytest.raises(pb.RemoteError) as info:
                await root.call_remote("unregistered_expected")
            assert info.value.remote_type == "pbtyped.Error"
            # A client that did not register MyError gets RemoteError, never MyError.
            with pytest.raises(pb.RemoteError) as info2:
                await root.call_remote("broken")
            assert info2.value.remote_type == f"{__name__}.MyError"  # unregistered there

    with caplog.at_level(logging.DEBUG, logger="pbtyped"):
        run(body)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_traceback_text_only_when_the_server_opts_in(run) -> None:
    async def body() -> None:
        async with (
            pb.serve(Breaker(), registry=_registry(), send_tracebacks=True) as server,
            pb.connect("127.0.0.1", server.port, registry=_registry()) as client,
        ):
            root = await client.root()
            with pytest.raises(MyError) as info:
                await root.call_remote("broken")
            tb = info.value.remote_traceback
            assert tb is not None
            assert "remote_broken" in tb
            assert "MyError" in tb
            with pytest.raises(pb.RemoteError) as info2:
                await root.call_remote("broken2")
            assert info2.value.remote_traceback is not None
            assert "hadda owie" in info2.value.remote_traceback

    run(body)


def test_except_replaces_trap(run) -> None:
    """PB's trap() chain, written as except clauses: each outcome lands in its own handler."""

    class Scary:
        pass

    async def outcome(root: pb.RemoteReference, method: str, *args: object) -> str:
        try:
            await root.call_remote(method, *args)
        except pb.InsecureTypeError:
            return "insecure"
        except MyError:
            return "my error"
        except pb.RemoteError as exc:
            return f"other: {exc.remote_type}"
        return "ok"

    async def body() -> list[str]:
        async with (
            pb.serve(Breaker(), registry=_registry()) as server,
            pb.connect("127.0.0.1", server.port, registry=_registry()) as client,
        ):
            root = await client.root()
            return [
                await outcome(root, "unregistered_expected", Scary()),
                await outcome(root, "broken"),
                await outcome(root, "broken2"),
            ]

    assert run(body) == ["insecure", "my error", f"other: {__name__}.MyError2"]
