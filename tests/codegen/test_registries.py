"""Connections take the registries of the generated modules they use (issue 12, items 1 and
10), over real sockets on 127.0.0.1; where a connection cannot know, the side that made the
mistake gets an error naming the type and the registry to pass."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest

import pbtyped as pb
from examples.typed import exc
from gen.exc import OneSyncClient
from pbtyped import sync
from pbtyped.wire import registry as registry_module


def run(coro: Awaitable[Any]) -> Any:
    async def bounded() -> Any:
        async with asyncio.timeout(30):
            return await coro

    return asyncio.run(bounded())


def test_a_typed_root_brings_its_registry_to_both_ends() -> None:
    """Neither end passes exc.REGISTRY: the registered error still arrives as itself."""

    async def scenario() -> None:
        async with (
            pb.serve(exc.One()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            one = await client.root(exc.OneClient)
            with pytest.raises(exc.MyError, match="fall down go boom"):
                await one.broken()
            assert client.connection.broker.registry.error_for("exc.MyError") is exc.MyError
            assert server.registry is exc.REGISTRY  # none given: the module's, not a copy
            # Joined once for the server: its connections share that registry, none copies it.
            async with pb.connect("127.0.0.1", server.port) as second:
                await second.root(exc.OneClient)
                assert len(server.connections) == 2
                assert all(c.broker.registry is server.registry for c in server.connections)

    run(scenario())


def test_a_blocking_stub_brings_its_registry() -> None:
    with sync.EventLoopThread(name="test-server") as loop_thread:
        server = loop_thread.run(pb.serve(exc.One()).start())
        try:
            with sync.connect("127.0.0.1", server.port) as client:
                one = client.root(OneSyncClient)
                with pytest.raises(exc.MyError, match="fall down go boom"):
                    one.broken()
        finally:
            loop_thread.run(server.aclose())


def test_a_registry_given_is_never_changed() -> None:
    mine = pb.Registry()

    async def scenario() -> None:
        async with (
            pb.serve(exc.One(), registry=mine) as server,
            pb.connect("127.0.0.1", server.port, registry=mine) as client,
        ):
            one = await client.root(exc.OneClient)
            with pytest.raises(exc.MyError):
                await one.broken()
            assert server.registry is not mine

    run(scenario())
    assert mine.error_for("exc.MyError") is None
    assert mine.version == 0


def test_a_conflicting_registration_names_both_classes() -> None:
    class Other(pb.Error):
        pass

    mine = pb.Registry()
    mine.register_error(Other, "exc.MyError")
    with pytest.raises(
        ValueError,
        match=(
            r"wire name 'exc\.MyError' is already registered for "
            r"tests\.codegen\.test_registries\..*Other: it cannot also name gen\.exc\.MyError\Z"
        ),
    ):
        pb.serve(exc.One(), registry=mine)


def test_an_untyped_call_sending_a_generated_type_names_its_registry(agen: Path) -> None:
    from agen import alltypes

    class Anything(pb.Root):
        def remote_take(self, value: object) -> None:
            raise AssertionError("never called")

    async def scenario() -> None:
        async with (
            pb.serve(Anything()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            root = await client.root()
            with pytest.raises(pb.InsecureTypeError) as info:
                await root.call_remote("take", alltypes.Point(1, 2))
            assert str(info.value) == (
                "agen.alltypes.Point is not registered on this connection: pass "
                "registry=agen.alltypes.REGISTRY to connect() or serve(), or call through "
                "the module's generated stub (client.root(XClient)), which brings it"
            )
            with pytest.raises(
                pb.InsecureTypeError, match=r"pass registry=agen\.alltypes\.REGISTRY "
            ):
                await root.call_remote("take", alltypes.Color.RED)

    run(scenario())


NOT_RUN = (
    "Tagger.remote_tag was not run: its result may hold agen.extra.Tag, which this "
    "connection's registry lacks; pass registry=agen.extra.REGISTRY to serve() or "
    "connect() (or include it in yours)"
)


def tagger_scenario(
    registry: pb.Registry | None, ran: list[str], brings: bool = True
) -> Awaitable[None]:
    """Serve an untyped root that hands out an ``extra.Tagger`` skeleton (so only the skeleton
    brings ``extra.REGISTRY``, when it is sent; ``brings=False`` takes that away), and call
    its ``tag("x")`` through the typed stub from a client given ``extra.REGISTRY``."""
    from agen import extra

    class Tagger(extra.TaggerServer):
        def remote_tag(self, name: str) -> extra.Tag:
            ran.append(name)
            return extra.Tag(name)

    if not brings:
        Tagger.pb_registry = None  # type: ignore[assignment]

    class Plain(pb.Root):
        def remote_tagger(self) -> Tagger:
            return Tagger()

    async def scenario() -> None:
        async with (
            pb.serve(Plain(), registry=registry) as server,
            pb.connect("127.0.0.1", server.port, registry=extra.REGISTRY) as client,
        ):
            root = await client.root()
            tagger = extra.TaggerClient(await root.call_remote("tagger"))
            assert await tagger.tag("x") == extra.Tag("x")
            # The server's registry, shared by its connections, is never changed.
            assert (server.registry.type_for("extra.Tag") is None) == (registry is None)
            (line,) = server.connections
            assert line.broker.registry.type_for("extra.Tag") is extra.Tag

    return scenario()


def test_a_skeleton_sent_brings_its_registry(agen: Path) -> None:
    """An object that is not the root (here one a call returns) brings its generated module's
    registry into the connection the first time it is sent, as a served root does."""
    ran: list[str] = []
    run(tagger_scenario(None, ran))
    assert ran == ["x"]


def test_a_callback_sent_by_a_client_brings_its_registry(agen: Path) -> None:
    """A client that passes its own skeleton admits the types of its module: its result is
    sent, though the client was given no registry."""
    from agen import extra

    class Mine(extra.TaggerServer):
        def remote_tag(self, name: str) -> extra.Tag:
            return extra.Tag(name.upper())

    class Caller(pb.Root):
        async def remote_use(self, tagger: pb.RemoteReference) -> str:
            tag = await tagger.call_remote("tag", "y")
            assert isinstance(tag, extra.Tag)
            return tag.name

    async def scenario() -> None:
        async with (
            pb.serve(Caller(), registry=extra.REGISTRY) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            root = await client.root()
            assert await root.call_remote("use", Mine()) == "Y"

    run(scenario())


def test_a_skeleton_whose_result_cannot_be_sent_is_not_run(
    agen: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A server whose registry lacks a type a method's result holds refuses the call before
    the method runs (its side effects would be done, its result unsendable), and logs it.
    A generated skeleton brings its registry when sent: here one that does not (no
    ``pb_registry``) stands for any way the two could still differ."""
    ran: list[str] = []
    with (
        caplog.at_level(logging.ERROR, logger="pbtyped"),
        pytest.raises(pb.InsecureTypeError) as info,
    ):
        run(tagger_scenario(None, ran, brings=False))
    assert str(info.value) == NOT_RUN
    assert ran == []
    assert [r.getMessage() for r in caplog.records if "was not run" in r.getMessage()] == [NOT_RUN]


def test_a_skeleton_served_with_its_registry_runs(agen: Path) -> None:
    from agen import extra

    ran: list[str] = []
    run(tagger_scenario(extra.REGISTRY, ran))
    assert ran == ["x"]


def test_the_types_a_result_may_hold_are_found_at_any_depth(agen: Path) -> None:
    from agen import alltypes

    methods = alltypes._SPEC_Kitchen.methods
    found = {
        name: sorted(cls.__qualname__ for cls in methods[name].result_types)
        for name in ("scalars", "limited", "copies", "baskets", "polygon", "sinks", "tagged")
    }
    assert found == {
        "scalars": [],
        "limited": ["Level"],
        "copies": ["Color", "Point", "Shape", "Tag"],  # Shape's fields, and theirs
        "baskets": ["Badge", "Basket", "Spot"],
        "polygon": ["Point"],
        "sinks": [],  # references are not copies
        "tagged": ["Tag"],
    }


def test_a_local_call_inside_a_remote_one_is_not_refused(agen: Path) -> None:
    """A skeleton called through a stub of our own object sends nothing: the registry of the
    connection whose call is running does not matter to it."""
    from agen import extra

    class Tagger(extra.TaggerServer):
        def remote_tag(self, name: str) -> extra.Tag:
            return extra.Tag(name)

    class Plain(pb.Root):
        async def remote_local(self) -> str:
            tag = await extra.TaggerClient(Tagger()).tag("y")  # type: ignore[arg-type]
            return tag.name

    async def scenario() -> None:
        async with (
            pb.serve(Plain()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            root = await client.root()
            assert await root.call_remote("local") == "y"

    run(scenario())


def test_a_refused_wire_name_names_the_registry_to_pass(agen: Path) -> None:
    """A side that receives a type its registry lacks fails the call with an error naming
    the type and the registry that side must pass, for an answer (the caller lacks it) and
    for arguments (the callee lacks it: its refusal travels to the caller)."""
    from agen import extra

    # The module named is the generated one loaded first that declares "extra.Tag": this
    # test's agen.extra, unless another test of the run generated the same schema before.
    module = registry_module._DECLARED_IN["extra.Tag"]
    assert sys.modules[module].REGISTRY.type_for("extra.Tag") is not None
    advice = (
        'type name "extra.Tag" is not registered on the receiving side (refused): that side '
        f"must pass registry={module}.REGISTRY to connect() or serve(), or call through the "
        "module's generated stubs, which bring it"
    )

    class Plain(pb.Root):
        def remote_tag(self) -> extra.Tag:
            return extra.Tag("x")

        def remote_take(self, tag: object) -> None:
            raise AssertionError("never called")

    async def scenario() -> None:
        async with pb.serve(Plain(), registry=extra.REGISTRY) as server:
            async with pb.connect("127.0.0.1", server.port) as client:
                root = await client.root()
                with pytest.raises(pb.InsecureTypeError) as answer:
                    await root.call_remote("tag")
                assert str(answer.value) == f"the answer could not be decoded: {advice}"
        async with pb.serve(Plain()) as server:
            async with pb.connect("127.0.0.1", server.port, registry=extra.REGISTRY) as client:
                root = await client.root()
                with pytest.raises(pb.InsecureTypeError) as arguments:
                    await root.call_remote("take", extra.Tag("y"))
                assert str(arguments.value) == f"arguments refused: {advice}"

    run(scenario())


def test_an_error_registered_by_the_peer_only_names_the_registry_to_pass() -> None:
    """An untyped client (no stub, no registry) gets the peer's registered error as
    RemoteError, never as an unrelated error: it names the registry that would make it
    arrive as its own class."""

    async def scenario() -> None:
        async with (
            pb.serve(exc.One()) as server,
            pb.connect("127.0.0.1", server.port) as client,
        ):
            root = await client.root()
            with pytest.raises(pb.RemoteError) as info:
                await root.call_remote("broken")
            assert (info.value.remote_type, info.value.message) == (
                "exc.MyError",
                "fall down go boom",
            )
            assert str(info.value) == (
                "exc.MyError: fall down go boom (registered by the peer, not here: pass "
                "registry=gen.exc.REGISTRY to connect() or serve(), or call through the "
                "module's generated stubs, which bring it)"
            )

    run(scenario())
