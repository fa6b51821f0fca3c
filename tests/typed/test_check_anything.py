"""Item 7 of issue 10: whatever a peer sends, a check either accepts it or raises
ValidationError. Every checker of two generated schemas (every construct the generator
supports) is driven with values ``cbor2.loads`` and our decoder could make: None, bools, ints
of any size, floats with nan and inf, str, bytes, lists, tuples, dicts with str, bytes and int
keys, sets, Decimals (signalling NaN too), datetimes (naive ones too), dates, UUIDs,
registered dataclasses holding any of these, enum members and references back home, nested."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import sys
import types
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pbtyped as pb
from pbtyped.typed.support import InterfaceSpec

Check = Callable[[Any], Any]


class _Home(pb.Referenceable):
    """One of our objects, sent back home by the peer, implementing no interface."""


def _registered(modules: list[types.ModuleType]) -> tuple[list[type[Any]], list[enum.Enum]]:
    classes: list[type[Any]] = []
    members: list[enum.Enum] = []
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == module.__name__:
                if dataclasses.is_dataclass(value):
                    classes.append(value)
                elif issubclass(value, enum.Enum):
                    members.extend(value)
    return classes, members


def _specs(modules: list[types.ModuleType]) -> list[InterfaceSpec]:
    return [v for m in modules for v in vars(m).values() if isinstance(v, InterfaceSpec)]


def _checks(specs: list[InterfaceSpec]) -> list[tuple[str, Check]]:
    """Every checker: each parameter's, both results', and each method's whole binding."""
    out: list[tuple[str, Check]] = []
    for spec in specs:
        for name, entry in spec.methods.items():
            out.append((f"{name} result in", lambda v, e=entry: e.result_in(v, "$")))
            out.append((f"{name} result out", lambda v, e=entry: e.result_out(v, "$")))
            out.append((f"{name} bind", lambda v, e=entry: e.bind(_args(v), {})))
            out.append((f"{name} bind by name", lambda v, e=entry: e.bind([], _by_name(e, v))))
            for p in entry.params:
                out.append((f"{name}({p.name})", lambda v, c=p.check: c(v, "$.p")))
    return out


def _args(value: Any) -> list[Any]:
    return value if type(value) is list else [value]


def _by_name(entry: Any, value: Any) -> dict[str, Any]:
    """Every parameter given ``value`` by name, and one more name when ``value`` is a dict
    (the broker lets only str keys through as names)."""
    named = {p.name: value for p in entry.params}
    if type(value) is dict:
        named.update((k, v) for k, v in value.items() if type(k) is str)
    return named


def _values(classes: list[type[Any]], members: list[enum.Enum], homes: list[Any]) -> Any:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        # Beyond the float range, and beyond Python's int-to-str limit (made lazily: hypothesis
        # prints its strategies, and such an int has no repr).
        st.sampled_from([400, 5000]).map(lambda digits: 10**digits),
        st.sampled_from([2**64, -(2**63), -(10**400)]),
        st.floats(),
        st.text(max_size=8),
        st.binary(max_size=8),
        st.decimals(places=None),
        st.sampled_from([decimal.Decimal("sNaN"), decimal.Decimal("-Infinity")]),
        st.datetimes(timezones=st.none() | st.just(datetime.UTC)),
        st.dates(),
        st.uuids(),
        st.sampled_from(members),
        st.sampled_from(homes),
    )
    keys = st.one_of(st.text(max_size=4), st.binary(max_size=4), st.integers())

    def copies(inner: Any) -> Any:
        def build(cls: type[Any]) -> Any:
            names = [f.name for f in dataclasses.fields(cls)]
            fields = st.fixed_dictionaries({n: inner for n in names})
            return fields.map(lambda kw: cls(**kw))

        return st.sampled_from(classes).flatmap(build)

    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.lists(inner, max_size=4).map(tuple),
            st.dictionaries(keys, inner, max_size=4),
            st.sets(keys, max_size=4),
            st.frozensets(keys, max_size=3),
            copies(inner),
        ),
        max_leaves=12,
    )


@pytest.fixture(scope="module")
def everything(
    hostile: types.ModuleType, alltypes: types.ModuleType
) -> tuple[list[tuple[str, Check]], Any]:
    modules = [hostile, alltypes, *_siblings(alltypes)]
    classes, members = _registered(modules)
    homes = [_Home(), *_servers(modules)]
    return _checks(_specs(modules)), _values(classes, members, homes)


def _siblings(module: types.ModuleType) -> list[types.ModuleType]:
    package = module.__name__.rpartition(".")[0]
    return [m for n, m in sys.modules.items() if n.startswith(package + ".") and m is not module]


def _servers(modules: list[types.ModuleType]) -> list[Any]:
    """One of our objects per skeleton: what a peer sends back home for an interface."""
    out = []
    for module in modules:
        for name, value in vars(module).items():
            ours = isinstance(value, type) and value.__module__ == module.__name__
            if ours and name.endswith("Server"):
                concrete = type(name, (value,), {})
                concrete.__abstractmethods__ = frozenset()
                out.append(concrete())
    return out


# Repeatable runs of a few hundred values each.
_DRIVE = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_checks_only_ever_refuse_with_validation_error(
    everything: tuple[list[tuple[str, Check]], Any],
) -> None:
    """Pins issue 10 item 7: any check raising anything but ValidationError for a value a peer
    can send (an OverflowError for 10**400 as a float, a ValueError from the repr of a key)."""
    checks, values = everything

    @_DRIVE
    @given(values)
    def drive(value: Any) -> None:
        for name, check in checks:
            try:
                check(value)
            except pb.ValidationError:
                pass
            except Exception as exc:  # pragma: no cover - the failure being looked for
                raise AssertionError(f"{name} raised {type(exc).__name__}: {exc!s:.200}") from exc

    drive()


def _refusal(check: Callable[..., Any], *args: Any) -> str | None:
    try:
        check(*args)
    except pb.ValidationError as exc:
        return str(exc)
    return None


def test_a_stub_refuses_what_the_skeleton_refuses_with_the_same_message(
    hostile: types.ModuleType, alltypes: types.ModuleType
) -> None:
    """Issue 12 item 2: a stub's check before sending (``MethodSpec.check_outgoing``) agrees
    with the skeleton's on receipt (``bind``) for every value a generated stub can be given,
    so refusing early never refuses what the server takes, nor says it differently."""
    modules = [hostile, alltypes, *_siblings(alltypes)]
    classes, members = _registered(modules)
    values = _values(classes, members, [_Home(), *_servers(modules)])
    methods = [e for spec in _specs(modules) for e in spec.methods.values() if e.params]

    @_DRIVE
    @given(values)
    def drive(value: Any) -> None:
        for entry in methods:
            # What a stub passes: every positional parameter in place, the others by name.
            args = tuple(value for p in entry.params if not p.kw_only)
            kwargs = {p.name: value for p in entry.params if p.kw_only}
            stub = _refusal(entry.check_outgoing, args, kwargs)
            assert stub == _refusal(entry.bind, list(args), kwargs), entry.name

    drive()
