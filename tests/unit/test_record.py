"""``@record`` against its oracle, ``dataclasses`` (STYLE.md 16: a hand-written part is checked
by the library it replaces).

Every record class of the package, and hypothesis-generated ones, is rebuilt with
``dataclasses.dataclass(frozen=..., slots=True, repr=...)`` from the same class body (the
namespace before ``@record`` ran: its methods, annotations and defaults), and the two are
compared: fields (names, order, types, defaults, factories, metadata, repr and compare flags),
``__init__`` (positional, keyword, missing, unexpected and doubled arguments), repr text,
equality, hashing, ``replace``, pickling, copying, the frozen errors, ``__match_args__`` and
``__slots__``. The controls: a class whose repr, eq or field order differs from its oracle's
is caught by the same comparisons.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import pickle
import pkgutil
import re
import subprocess
import sys
import types
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bwsandbox
from bwsandbox import _record
from bwsandbox._record import FrozenInstanceError, field, record

_GENERATED_FILE = _record.__file__
_RECORD_ATTRS = (
    "__record_all__",
    "__record_fields__",
    "__record_frozen__",
    "__record_repr__",
    "__dataclass_fields__",
    "__dataclass_params__",
    "__slots__",
    "__match_args__",
    "__dict__",
    "__weakref__",
)


def _all_records() -> list[type]:
    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(bwsandbox.__path__, "bwsandbox."):
        if info.name.endswith(".__main__"):
            continue  # runs the CLI
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and "__record_fields__" in value.__dict__
                and value.__module__ == info.name
            ):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[k] for k in sorted(found)]


RECORDS = _all_records()


def _is_generated(value: Any) -> bool:
    code = getattr(value, "__code__", None)
    return code is not None and code.co_filename == _GENERATED_FILE


def _body(cls: type) -> dict[str, Any]:
    """The class namespace ``@record`` was given: its own methods, annotations and defaults."""
    namespace = {
        k: v
        for k, v in cls.__dict__.items()
        if k not in _RECORD_ATTRS and not _is_generated(v) and not k.startswith("__record")
    }
    if cls.__dict__.get("__hash__", 0) is None:
        del namespace["__hash__"]
    for name in cls.__dict__["__slots__"]:
        namespace.pop(name, None)
    for f in cls.__dict__["__record_all__"]:
        if f.name not in cls.__dict__.get("__annotations__", {}):  # noqa: RUF063
            continue  # a base's field
        if f.default_factory is not _record.MISSING or not f.repr or not f.compare or f.metadata:
            namespace[f.name] = dataclasses.field(
                default=dataclasses.MISSING if f.default is _record.MISSING else f.default,
                default_factory=(
                    dataclasses.MISSING
                    if f.default_factory is _record.MISSING
                    else f.default_factory
                ),
                repr=f.repr,
                compare=f.compare,
                metadata=dict(f.metadata) if f.metadata else None,
            )
        elif f.default is not _record.MISSING:
            namespace[f.name] = f.default
    if (cls.__doc__ or "").startswith(f"{cls.__name__}("):
        del namespace["__doc__"]  # generated: the oracle generates its own
    namespace["__qualname__"] = cls.__qualname__
    return namespace


_ORACLES: dict[type, type] = {}


def oracle(cls: type) -> type:
    """``cls`` rebuilt by ``dataclasses`` from the same body (record bases rebuilt too)."""
    if cls not in _ORACLES:
        bases = tuple(oracle(b) if "__record_fields__" in b.__dict__ else b for b in cls.__bases__)
        made = types.new_class(cls.__name__, bases, exec_body=lambda ns: ns.update(_body(cls)))
        _ORACLES[cls] = dataclasses.dataclass(
            frozen=cls.__dict__["__record_frozen__"],
            slots=True,
            repr=cls.__dict__["__record_repr__"],
        )(made)
    return _ORACLES[cls]


def outcome(call: Callable[[], Any]) -> tuple[Any, ...]:
    """What a call did: its result, or the kind of error it raised and its message."""
    try:
        return ("ok", call())
    except FrozenInstanceError as exc:
        return ("frozen", str(exc))
    except dataclasses.FrozenInstanceError as exc:
        return ("frozen", str(exc))
    except Exception as exc:  # noqa: BLE001 (compared, not handled)
        return ("error", type(exc), str(exc).replace(".__create_fn__.<locals>", ""))


_FIELD_ATTRS: tuple[str, ...] = (
    "name",
    "type",
    "default",
    "default_factory",
    "init",
    "repr",
    "hash",
    "compare",
)
_FIELD_ATTRS += ("kw_only", "_field_type")


def _field_view(cls: type) -> list[tuple[Any, ...]]:
    return [
        (*(getattr(f, a) for a in _FIELD_ATTRS), dict(f.metadata))
        for f in cls.__dataclass_fields__.values()  # type: ignore[attr-defined]
    ]


def _params_view(cls: type) -> tuple[Any, ...]:
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    return tuple(
        getattr(params, a) for a in ("init", "repr", "eq", "order", "unsafe_hash", "frozen")
    )


def _values(cls: type, tag: str = "v") -> dict[str, Any]:
    """A distinct value per field (strings: hashable, with a stable repr)."""
    return {f.name: f"{tag}-{f.name}" for f in _record.fields(cls)}


def check_against_oracle(cls: type, *, pickles: bool = True) -> None:
    ref = oracle(cls)
    # the class
    assert _field_view(cls) == _field_view(ref)
    assert [f.name for f in dataclasses.fields(cls)] == [f.name for f in _record.fields(cls)]
    assert _params_view(cls) == _params_view(ref)
    assert dataclasses.is_dataclass(cls)
    assert cls.__slots__ == ref.__slots__  # type: ignore[attr-defined]
    assert cls.__match_args__ == ref.__match_args__  # type: ignore[attr-defined]
    assert (cls.__hash__ is None) == (ref.__hash__ is None)
    assert cls.__qualname__ == ref.__qualname__
    assert cls.__doc__ == ref.__doc__
    assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"

    # __init__: keyword, positional, defaults, and the errors
    values = _values(cls)
    names = list(values)
    ours, theirs = cls(**values), ref(**values)
    positional = tuple(values.values())
    assert _state(cls(*positional)) == _state(ref(*positional))
    for call_args, call_kwargs in (
        ((), {}),  # every required field missing
        ((), {**values, "unexpected_field": 1}),
        ((*values.values(), "extra"), {}),
        ((*values.values(),), {names[0]: "twice"} if names else {"x": 1}),
    ):
        theirs_out = outcome(partial(ref, *call_args, **call_kwargs))
        ours_out = outcome(partial(cls, *call_args, **call_kwargs))
        assert ours_out[0] == theirs_out[0]
        if theirs_out[0] == "error":
            assert ours_out[1] is theirs_out[1] is TypeError
    required = [f.name for f in _record.fields(cls) if f.default is f.default_factory]
    only_required = cls(**{n: values[n] for n in required})
    reference = ref(**{n: values[n] for n in required})
    assert _state(only_required) == _state(reference)
    positional_required = [values[n] for n in required]
    assert _state(cls(*positional_required)) == _state(ref(*positional_required))
    # a factory runs per instance: the same sharing of default values as the oracle's
    again, reference_again = (
        cls(**dict(zip(required, positional_required, strict=True))),
        ref(*positional_required),
    )
    for f in _record.fields(cls):
        assert (getattr(again, f.name) is getattr(only_required, f.name)) == (
            getattr(reference_again, f.name) is getattr(reference, f.name)
        )

    # repr, eq, hash
    assert outcome(partial(_repr, ours)) == outcome(partial(_repr, theirs))
    assert outcome(partial(_repr, only_required)) == outcome(partial(_repr, reference))
    assert ours == cls(**values)
    assert ours != theirs
    assert (ours == only_required) == (theirs == reference)
    for name in names:
        changed = {**values, name: "other"}
        assert (ours == cls(**changed)) == (theirs == ref(**changed))
    assert outcome(lambda: hash(ours)) == outcome(lambda: hash(theirs))

    # replace, with both replace functions
    if names:
        change = {names[-1]: "replaced"}
        assert _state(_record.replace(ours, **change)) == _state(
            dataclasses.replace(theirs, **change)
        )
        assert _state(dataclasses.replace(ours, **change)) == _state(
            dataclasses.replace(theirs, **change)
        )
    assert dataclasses.asdict(ours) == dataclasses.asdict(theirs)
    assert dataclasses.astuple(ours) == dataclasses.astuple(theirs)

    # frozen (or not)
    if cls.__dict__["__record_frozen__"]:
        # Python 3.11's frozen slotted dataclass fails on a name that is not a field with
        # "super(type, obj): obj must be an instance..." (its __setattr__ closes over the class
        # it replaced); a record says what a frozen dataclass means to say
        for call in (partial(setattr, ours, "not_a_field", 1), partial(delattr, ours, "x_")):
            assert outcome(call)[0] == "frozen"
    checked = [*names[:1]] if cls.__dict__["__record_frozen__"] else [*names[:1], "not_a_field"]
    for name in checked:
        assert outcome(partial(setattr, ours, name, 1)) == outcome(
            partial(setattr, theirs, name, 1)
        )
        assert outcome(partial(delattr, ours, name)) == outcome(partial(delattr, theirs, name))
        fresh, fresh_ref = cls(**values), ref(**values)
        assert outcome(partial(setattr, fresh, name, 1)) == outcome(
            partial(setattr, fresh_ref, name, 1)
        )

    # copies
    ours = cls(**values)
    assert _state(copy.copy(ours)) == _state(ours)
    assert _state(copy.deepcopy(ours)) == _state(ours)
    if pickles:
        assert _state(pickle.loads(pickle.dumps(ours))) == _state(ours)


def _repr(obj: object) -> str:
    """``repr(obj)`` without ``object``'s address (``repr=False``)."""
    return re.sub(r" at 0x[0-9a-f]+>", ">", repr(obj))


def _state(obj: Any) -> tuple[Any, ...]:
    return (type(obj).__qualname__, *(getattr(obj, f.name) for f in dataclasses.fields(obj)))


def test_every_package_record_was_found() -> None:
    assert len(RECORDS) >= 90
    from bwsandbox.policy import Policy

    assert Policy in RECORDS


@pytest.mark.parametrize("cls", RECORDS, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_package_record_matches_dataclasses(cls: type) -> None:
    check_against_oracle(cls)


def test_control_a_different_repr_is_caught() -> None:
    @record
    class Shown:
        a: str
        b: str = field(default="x", repr=False)

    check_against_oracle(Shown, pickles=False)
    Shown.__dict__["__record_all__"][1].repr = True  # the oracle now shows b, the class does not
    _ORACLES.pop(Shown)
    with pytest.raises(AssertionError):
        check_against_oracle(Shown, pickles=False)


def test_control_a_different_eq_is_caught() -> None:
    @record
    class Compared:
        a: str
        b: str = "x"

    check_against_oracle(Compared, pickles=False)
    Compared.__dict__["__record_all__"][1].compare = False
    _ORACLES.pop(Compared)
    with pytest.raises(AssertionError):
        check_against_oracle(Compared, pickles=False)


# -- hypothesis: synthetic classes ---------------------------------------------------------

_DEFAULTS = st.one_of(st.none(), st.integers(-3, 3), st.text(max_size=3), st.tuples(st.integers()))
_FACTORIES = st.sampled_from([list, dict, tuple, set, lambda: [1], lambda: "made"])


@st.composite
def _field_specs(draw: st.DrawFn, count: int) -> list[tuple[str, str, dict[str, Any]]]:
    specs = []
    defaulted = False
    for i in range(count):
        kind = draw(st.sampled_from(["required", "default", "factory", "field", "classvar"]))
        if defaulted and kind == "required":
            kind = "default"
        options: dict[str, Any] = {}
        if kind == "default":
            options["default"] = draw(_DEFAULTS)
        elif kind == "factory":
            options["default_factory"] = draw(_FACTORIES)
        elif kind == "field":
            if defaulted or draw(st.booleans()):
                options["default"] = draw(_DEFAULTS)
            options["repr"] = draw(st.booleans())
            options["compare"] = draw(st.booleans())
            if draw(st.booleans()):
                options["metadata"] = {"doc": draw(st.text(max_size=4))}
        elif kind == "classvar":
            options["default"] = draw(_DEFAULTS)
        defaulted = defaulted or (
            ("default" in options or "default_factory" in options) and kind != "classvar"
        )
        specs.append((f"f{i}", kind, options))
    return specs


_COUNTER = iter(range(10**9))


def _synthetic(
    specs: list[tuple[str, str, dict[str, Any]]], base: type | None, **flags: Any
) -> type:
    name = f"Synthetic{next(_COUNTER)}"
    annotations: dict[str, str] = {}
    namespace: dict[str, Any] = {"__annotations__": annotations, "__module__": __name__}
    for fname, kind, options in specs:
        annotations[fname] = "ClassVar[int]" if kind == "classvar" else "object"
        if kind in ("default", "classvar"):
            namespace[fname] = options["default"]
        elif kind in ("factory", "field"):
            namespace[fname] = field(**options)
    cls: type = record(**flags)(type(name, (base,) if base else (), namespace))
    globals()[name] = cls  # picklable by name
    return cls


@settings(max_examples=150, deadline=None)
@given(
    specs=st.integers(0, 6).flatmap(_field_specs),
    base_specs=st.one_of(st.none(), st.integers(0, 3).flatmap(_field_specs)),
    frozen=st.booleans(),
    with_repr=st.booleans(),
)
def test_synthetic_records_match_dataclasses(
    specs: list[tuple[str, str, dict[str, Any]]],
    base_specs: list[tuple[str, str, dict[str, Any]]] | None,
    frozen: bool,
    with_repr: bool,
) -> None:
    base = None
    if base_specs is not None:
        base_specs = [(f"b{name}", kind, options) for name, kind, options in base_specs]
        base = _synthetic(base_specs, None, frozen=frozen)
        base_defaulted = any(
            "default" in o or "default_factory" in o for _, k, o in base_specs if k != "classvar"
        )
        if base_defaulted and any(
            k == "required" or (k == "field" and "default" not in o) for _, k, o in specs
        ):
            with pytest.raises(TypeError, match="non-default argument"):
                _synthetic(specs, base, frozen=frozen, repr=with_repr)
            return
    cls = _synthetic(specs, base, frozen=frozen, repr=with_repr)
    check_against_oracle(cls)


# -- the rest of the dataclass surface ------------------------------------------------------


@record
class _Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = field(default_factory=tuple, metadata={"doc": "labels"})
    origin: ClassVar[str] = "here"


def test_dataclasses_functions_work_on_records() -> None:
    p = _Point(1, 2)
    as_objects: list[object] = [_Point, p]
    assert all(dataclasses.is_dataclass(o) for o in as_objects)
    assert [f.name for f in dataclasses.fields(p)] == ["x", "y", "tags"]
    assert dataclasses.fields(_Point)[2].metadata["doc"] == "labels"
    assert dataclasses.replace(p, y=5) == _Point(1, 5)
    assert dataclasses.asdict(p) == {"x": 1, "y": 2, "tags": ()}
    assert _Point.origin == "here"
    assert "origin" not in _Point.__slots__  # type: ignore[attr-defined]


def test_a_dataclass_may_extend_a_record() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Point3(_Point):
        z: int = 0

    assert (
        repr(Point3(1, 2, ("a",), 3))
        == "test_a_dataclass_may_extend_a_record.<locals>.Point3(x=1, y=2, tags=('a',), z=3)"
    )


def test_frozen_error_is_an_attribute_error() -> None:
    p = _Point(1)
    with pytest.raises(AttributeError, match="cannot assign to field 'x'"):
        p.x = 3  # type: ignore[misc]
    assert issubclass(FrozenInstanceError, AttributeError)


def test_post_init_runs() -> None:
    seen: list[object] = []

    @record
    class Checked:
        a: int

        def __post_init__(self) -> None:
            seen.append(self.a)

    Checked(4)
    assert seen == [4]


def test_mutable_default_and_misuse_are_refused_as_dataclasses_does() -> None:
    with pytest.raises(ValueError, match="mutable default"):
        record(type("Bad", (), {"__annotations__": {"a": "list[int]"}, "a": []}))
    with pytest.raises(ValueError, match="both default and default_factory"):
        field(default=1, default_factory=list)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="no type annotation"):
        record(type("Bad", (), {"a": field(default=1)}))
    with pytest.raises(TypeError, match="InitVar"):
        record(type("Bad", (), {"__annotations__": {"a": "InitVar[int]"}}))


def test_recursive_repr_is_cut_as_dataclasses_does() -> None:
    @record(frozen=False)
    class Node:
        child: object = None

    node = Node()
    node.child = node
    assert repr(node) == "test_recursive_repr_is_cut_as_dataclasses_does.<locals>.Node(child=...)"


def test_importing_the_package_records_does_not_import_dataclasses() -> None:
    code = (
        "import sys\n"
        "from bwsandbox._record import record, field\n"
        "import bwsandbox.policy._model, bwsandbox.compile._plan\n"
        "print('dataclasses' in sys.modules, 'inspect' in sys.modules)\n"
        "from bwsandbox.policy import Policy\n"
        "Policy.__dataclass_fields__\n"
        "print('dataclasses' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "True"]  # the last: the control
