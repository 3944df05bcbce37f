"""``@record``: frozen, slotted value classes without ``dataclasses``' import-time cost.

Why hand-written: creating the ~100 value classes of ``bwsandbox/`` with
``@dataclass(frozen=True, slots=True)`` cost about 22 ms of every ``agent-sandbox run``, 18 ms
of it ``exec`` of the source ``dataclasses`` generates for each method, and importing
``dataclasses`` pulls in ``inspect`` (``ast``, ``dis``, ``tokenize``) for another 5 ms or more.
``@record`` builds the same classes from generic closures over precomputed tuples of names and
defaults: no ``exec``, ``eval`` or ``compile``, no ``inspect``, no ``typing`` at run time.

What a class gets is what ``@dataclass(frozen=True, slots=True)`` gives it (3.11 semantics):
fields from the class's annotations in order, after those of record bases; ``ClassVar``
annotations are not fields; defaults and :func:`field` (``default``, ``default_factory``,
``repr``, ``compare``, ``metadata``); ``__init__`` (positional or keyword; a missing or
unexpected argument is a ``TypeError``; ``__post_init__`` is called if defined);
``__repr__`` with the same text; ``__eq__`` (same class only) and ``__hash__`` over the
compared fields; frozen ``__setattr__``/``__delattr__`` raising :class:`FrozenInstanceError`
(an ``AttributeError``); ``__match_args__``; a new class with ``__slots__``; and, for frozen
classes, ``__getstate__``/``__setstate__`` so pickle and ``copy`` work. A method the class
body defines itself (``__repr__``, ``__eq__``...) is kept. ``@record(frozen=False)`` makes a
mutable record (unhashable, like a mutable dataclass); ``@record(repr=False)`` keeps
``object``'s repr unless the body defines one.

``dataclasses.fields``, ``replace``, ``asdict`` and ``is_dataclass`` keep working on records:
``__dataclass_fields__`` and ``__dataclass_params__`` are lazy class attributes that import
``dataclasses`` and build its real ``Field`` objects on first access. The package itself uses
:func:`fields` and :func:`replace` from here, so ``dataclasses`` stays off the start-up path.

The oracle: ``tests/unit/test_record.py`` rebuilds every record class of the package, and
hypothesis-generated ones, with ``dataclasses`` from the same class body and compares fields,
``__init__``, repr, equality, hashing, ``replace``, pickling, copying and the frozen errors.
Not supported (a ``TypeError`` at class creation): ``InitVar``, ``KW_ONLY``, a
``dataclasses`` dataclass as a base.
"""

from __future__ import annotations

import sys
from _thread import get_ident
from operator import attrgetter
from types import MappingProxyType, MemberDescriptorType

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

__all__ = ["MISSING", "Field", "FrozenInstanceError", "field", "fields", "record", "replace"]


class _MissingType:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


#: no default (a field's ``default`` or ``default_factory``)
MISSING: Any = _MissingType()

_EMPTY: Mapping[Any, Any] = MappingProxyType({})


class FrozenInstanceError(AttributeError):
    """Assigning to or deleting a field of a frozen record."""


class Field:
    """One field of a record: what :func:`field` returns and :func:`fields` lists."""

    __slots__ = (
        "classvar",
        "compare",
        "default",
        "default_factory",
        "metadata",
        "name",
        "repr",
        "type",
    )

    def __init__(
        self,
        default: Any,
        default_factory: Any,
        repr: bool,  # noqa: A002 (the dataclasses name)
        compare: bool,
        metadata: Mapping[Any, Any] | None,
    ) -> None:
        self.name: str = ""
        self.type: Any = None
        self.default = default
        self.default_factory = default_factory
        self.repr = repr
        self.compare = compare
        self.metadata: Mapping[Any, Any] = _EMPTY if not metadata else MappingProxyType(metadata)
        self.classvar = False  # a ClassVar annotation: listed by __dataclass_fields__ only

    def __repr__(self) -> str:
        return (
            f"Field(name={self.name!r},type={self.type!r},default={self.default!r},"
            f"default_factory={self.default_factory!r},repr={self.repr!r},"
            f"compare={self.compare!r},metadata={self.metadata!r})"
        )


def _field(
    *,
    default: Any = MISSING,
    default_factory: Any = MISSING,
    repr: bool = True,  # noqa: A002 (the dataclasses name)
    compare: bool = True,
    metadata: Mapping[Any, Any] | None = None,
) -> Any:
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory, repr, compare, metadata)


def fields(class_or_instance: Any) -> tuple[Field, ...]:
    """The fields of a record class or instance, in ``__init__`` order."""
    try:
        return class_or_instance.__record_fields__  # type: ignore[no-any-return]
    except AttributeError:
        raise TypeError("must be called with a record type or instance") from None


def _replace(obj: Any, /, **changes: Any) -> Any:
    """A copy of the record ``obj`` with ``changes`` (like ``dataclasses.replace``)."""
    for f in fields(obj):
        if f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return obj.__class__(**changes)


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


def _join_names(names: list[str]) -> str:
    quoted = [repr(n) for n in names]
    if len(quoted) == 1:
        return quoted[0]
    if len(quoted) == 2:
        return f"{quoted[0]} and {quoted[1]}"
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


def _bind(
    owner: str,
    names: tuple[str, ...],
    defaults: tuple[Any, ...],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> list[Any]:
    """The field values of one ``__init__`` call, or the ``TypeError`` Python would raise."""
    n, given = len(names), len(args)
    if given > n:
        raise TypeError(
            f"{owner}.__init__() takes {n + 1} positional argument{'s' if n else ''} "
            f"but {given + 1} were given"
        )
    values = list(args)
    used = 0
    missing: list[str] = []
    for i in range(given, n):
        name = names[i]
        if name in kwargs:
            values.append(kwargs[name])
            used += 1
            continue
        default = defaults[i]
        if default is MISSING:
            missing.append(name)
        elif type(default) is _Factory:
            default = default.make()
        values.append(default)
    if used != len(kwargs):
        for name in kwargs:
            if name not in names:
                raise TypeError(f"{owner}.__init__() got an unexpected keyword argument {name!r}")
        for name in kwargs:
            if name in names[:given]:
                raise TypeError(f"{owner}.__init__() got multiple values for argument {name!r}")
    if missing:
        raise TypeError(
            f"{owner}.__init__() missing {len(missing)} required positional "
            f"argument{'s' if len(missing) > 1 else ''}: {_join_names(missing)}"
        )
    return values


def _is_classvar(annotation: Any) -> bool:
    if isinstance(annotation, str):
        if "ClassVar" not in annotation:  # the usual annotation: no strip, no prefix loop
            return False
        text = annotation.strip()
        for prefix in ("ClassVar", "typing.ClassVar", "t.ClassVar"):
            if text == prefix or text.startswith(prefix + "["):
                return True
        return False
    typing = sys.modules.get("typing")
    return typing is not None and (
        annotation is typing.ClassVar or getattr(annotation, "__origin__", None) is typing.ClassVar
    )


def _unsupported(annotation: Any) -> bool:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    if "KW_ONLY" not in text and "InitVar" not in text:  # the usual annotation
        return False
    text = text.strip()
    return text in ("KW_ONLY", "dataclasses.KW_ONLY") or text.startswith(
        ("InitVar", "dataclasses.InitVar")
    )


def _slots_of(cls: type) -> tuple[str, ...]:
    slots = cls.__dict__.get("__slots__")
    if slots is None:
        return ()
    if isinstance(slots, str):
        return (slots,)
    if hasattr(slots, "__next__"):
        raise TypeError(f"Slots of '{cls.__name__}' cannot be determined")
    return tuple(slots)


def _collect(cls: type, frozen: bool) -> dict[str, Field]:
    """The fields of ``cls``, its record bases' first (``ClassVar`` entries included)."""
    all_fields: dict[str, Field] = {}
    any_frozen_base = None
    for base in cls.__mro__[-1:0:-1]:
        own = base.__dict__.get("__record_all__")
        if own is None:
            if "__dataclass_fields__" in base.__dict__:
                raise TypeError(
                    f"{cls.__name__}: a dataclasses base ({base.__name__}) is not supported"
                )
            continue
        for f in own:
            all_fields[f.name] = f
        any_frozen_base = bool(any_frozen_base) or base.__dict__["__record_frozen__"]
    if any_frozen_base is not None:
        if any_frozen_base and not frozen:
            raise TypeError("cannot inherit non-frozen dataclass from a frozen one")
        if not any_frozen_base and frozen:
            raise TypeError("cannot inherit frozen dataclass from a non-frozen one")

    annotations = cls.__dict__.get("__annotations__")  # noqa: RUF063 (inspect costs 5 ms)
    if annotations is None:
        annotations = getattr(cls, "__annotations__", None) or {}
    for name, annotation in annotations.items():
        if _unsupported(annotation):
            raise TypeError(
                f"{cls.__name__}.{name}: InitVar and KW_ONLY are not supported by @record"
            )
        default = getattr(cls, name, MISSING)
        if isinstance(default, Field):
            f = default
            if f.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, f.default)
        else:
            if isinstance(default, MemberDescriptorType):
                default = MISSING
            f = Field(default, MISSING, True, True, None)
        f.name = name
        f.type = annotation
        if _is_classvar(annotation):
            if f.default_factory is not MISSING:
                raise TypeError(f"field {name} cannot have a default factory")
            f.classvar = True
        elif f.default.__class__.__hash__ is None:
            raise ValueError(
                f"mutable default {type(f.default)} for field {name} is not allowed: "
                "use default_factory"
            )
        all_fields[name] = f
    for name, value in cls.__dict__.items():
        if isinstance(value, Field) and name not in annotations:
            raise TypeError(f"{name!r} is a field but has no type annotation")
    seen_default = False
    for f in all_fields.values():
        if f.classvar:
            continue
        if f.default is MISSING and f.default_factory is MISSING:
            if seen_default:
                raise TypeError(f"non-default argument {f.name!r} follows default argument")
        else:
            seen_default = True
    return all_fields


def _make_class(cls: type, all_fields: dict[str, Field]) -> type:
    """A new class from ``cls``'s namespace with ``__slots__`` (as ``dataclasses`` builds it)."""
    if "__slots__" in cls.__dict__:
        raise TypeError(f"{cls.__name__} already specifies __slots__")
    namespace = dict(cls.__dict__)
    names = [f.name for f in all_fields.values() if not f.classvar]
    inherited = {slot for base in cls.__mro__[1:-1] for slot in _slots_of(base)}
    namespace["__slots__"] = tuple(n for n in names if n not in inherited)
    for name in names:
        namespace.pop(name, None)
    namespace.pop("__dict__", None)
    namespace.pop("__weakref__", None)
    qualname = getattr(cls, "__qualname__", None)
    new = type(cls)(cls.__name__, cls.__bases__, namespace)
    if qualname is not None:
        new.__qualname__ = qualname
    return new


def _setter(cls: type, name: str) -> Callable[[Any, Any], None]:
    for klass in cls.__mro__:
        slot = klass.__dict__.get(name)
        if slot is not None:
            if isinstance(slot, MemberDescriptorType):
                return slot.__set__
            break
    return lambda obj, value: object.__setattr__(obj, name, value)


def _tuple_getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    if len(names) >= 2:
        return attrgetter(*names)
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda _: ()


def _set_new(cls: type, name: str, value: Any) -> bool:
    """Set ``name`` unless the class body defined it (then True, as ``dataclasses``)."""
    if name in cls.__dict__:
        return True
    if callable(value):
        value.__qualname__ = f"{cls.__qualname__}.{value.__name__}"
    setattr(cls, name, value)
    return False


def _methods(
    cls: type, flds: tuple[Field, ...], frozen: bool, with_repr: bool, explicit_hash: bool
) -> None:
    names = tuple(f.name for f in flds)
    defaults = tuple(
        f.default if f.default_factory is MISSING else _Factory(f.default_factory) for f in flds
    )
    setters = tuple(_setter(cls, n) for n in names)
    count = len(names)
    owner = cls.__qualname__
    post_init = getattr(cls, "__post_init__", None)

    required = next((i for i, d in enumerate(defaults) if d is not MISSING), count)
    keyword_defaults = {n: d for n, d in zip(names, defaults, strict=True) if d is not MISSING}
    factories = any(type(d) is _Factory for d in defaults)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        # the usual calls without a loop over the fields: all keywords, or positional with
        # the defaults after them; anything else (and every error) goes through _bind
        values: Any = None
        if kwargs:
            if not args:
                merged = {**keyword_defaults, **kwargs}
                if len(merged) == count:
                    try:
                        values = list(map(merged.__getitem__, names))
                    except KeyError:  # a required field missing, an unexpected keyword
                        values = None
        elif required <= len(args) <= count:
            values = args + defaults[len(args) :]
        if values is None:
            values = _bind(owner, names, defaults, args, kwargs)
        elif factories:
            values = [v.make() if type(v) is _Factory else v for v in values]
        for set_value, value in zip(setters, values, strict=True):
            set_value(self, value)
        if post_init is not None:
            self.__post_init__()

    _set_new(cls, "__init__", __init__)

    if with_repr:
        shown = tuple(f.name for f in flds if f.repr)
        prefixes = tuple(f"{n}=" for n in shown)
        values_of = _tuple_getter(shown)
        running: set[tuple[int, int]] = set()

        def __repr__(self: Any) -> str:  # noqa: N807
            key = id(self), get_ident()
            if key in running:
                return "..."
            running.add(key)
            try:
                body = ", ".join(
                    [p + repr(v) for p, v in zip(prefixes, values_of(self), strict=True)]
                )
            finally:
                running.discard(key)
            return f"{self.__class__.__qualname__}({body})"

        _set_new(cls, "__repr__", __repr__)

    compared = _tuple_getter(tuple(f.name for f in flds if f.compare))

    def __eq__(self: Any, other: Any) -> Any:  # noqa: N807
        if other.__class__ is self.__class__:
            return compared(self) == compared(other)
        return NotImplemented

    _set_new(cls, "__eq__", __eq__)

    if frozen:
        field_names = frozenset(names)
        this: Any = cls

        def __setattr__(self: Any, name: str, value: Any) -> None:  # noqa: N807
            if type(self) is cls or name in field_names:
                raise FrozenInstanceError(f"cannot assign to field {name!r}")
            super(this, self).__setattr__(name, value)

        def __delattr__(self: Any, name: str) -> None:  # noqa: N807
            if type(self) is cls or name in field_names:
                raise FrozenInstanceError(f"cannot delete field {name!r}")
            super(this, self).__delattr__(name)

        for method in (__setattr__, __delattr__):
            if _set_new(cls, method.__name__, method):
                raise TypeError(
                    f"Cannot overwrite attribute {method.__name__} in class {cls.__name__}"
                )

        def __getstate__(self: Any) -> list[Any]:  # noqa: N807
            return [getattr(self, n) for n in names]

        def __setstate__(self: Any, state: list[Any]) -> None:  # noqa: N807
            for set_value, value in zip(setters, state, strict=False):
                set_value(self, value)

        _set_new(cls, "__getstate__", __getstate__)
        _set_new(cls, "__setstate__", __setstate__)

    if not explicit_hash:
        if frozen:

            def __hash__(self: Any) -> int:  # noqa: N807
                return hash(compared(self))

            __hash__.__qualname__ = f"{cls.__qualname__}.__hash__"
            cls.__hash__ = __hash__  # type: ignore[assignment,method-assign]
        else:
            cls.__hash__ = None  # type: ignore[assignment]

    _set_new(cls, "__match_args__", names)
    # copy.replace() (Python 3.13), as dataclasses gives it there
    if "__replace__" not in cls.__dict__:
        cls.__replace__ = _replace  # type: ignore[attr-defined]


class _LazyDataclass:
    """``__dataclass_fields__`` or ``__dataclass_params__``, built by ``dataclasses`` on use."""

    __slots__ = ("attr", "owner", "value")

    def __init__(self, owner: type, attr: str) -> None:
        self.owner = owner
        self.attr = attr
        self.value: Any = None

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if self.value is None:
            self.value = (
                _real_fields(self.owner) if self.attr == "fields" else _real_params(self.owner)
            )
        return self.value


def _real_fields(cls: type) -> dict[str, Any]:
    import dataclasses

    real: dict[str, Any] = {}
    for f in cls.__dict__["__record_all__"]:
        made: Any = dataclasses.field(
            default=dataclasses.MISSING if f.default is MISSING else f.default,
            default_factory=dataclasses.MISSING
            if f.default_factory is MISSING
            else f.default_factory,
            repr=f.repr,
            compare=f.compare,
            metadata=None if f.metadata is _EMPTY else dict(f.metadata),
        )
        made.name = f.name
        made.type = f.type
        made._field_type = dataclasses._FIELD_CLASSVAR if f.classvar else dataclasses._FIELD  # type: ignore[attr-defined]
        if not f.classvar:
            made.kw_only = False
        real[f.name] = made
    return real


def _real_params(cls: type) -> Any:
    import dataclasses

    params = dataclasses._DataclassParams  # type: ignore[attr-defined]
    frozen = cls.__dict__["__record_frozen__"]
    with_repr = cls.__dict__["__record_repr__"]
    try:
        return params(True, with_repr, True, False, False, frozen)
    except TypeError:  # 3.12 and later: match_args, kw_only, slots, weakref_slot
        return params(True, with_repr, True, False, False, frozen, True, False, True, False)


def _annotation_text(annotation: Any) -> str:
    """An annotation as ``inspect.formatannotation`` writes it (strings quoted)."""
    if getattr(annotation, "__module__", None) == "typing":
        return repr(annotation).replace("typing.", "")
    if isinstance(annotation, type):
        if annotation.__module__ == "builtins":
            return annotation.__qualname__
        return f"{annotation.__module__}.{annotation.__qualname__}"
    return repr(annotation)


def _signature_doc(cls: type, flds: tuple[Field, ...]) -> str:
    """The ``__doc__`` ``dataclasses`` gives a class without one: its ``inspect.signature``."""
    params = []
    for f in flds:
        text = f"{f.name}: {_annotation_text(f.type)}"
        if f.default_factory is not MISSING:
            text += " = <factory>"
        elif f.default is not MISSING:
            text += f" = {f.default!r}"
        params.append(text)
    return f"{cls.__name__}({', '.join(params)})"


def _process(cls: type, frozen: bool, with_repr: bool) -> type:
    all_fields = _collect(cls, frozen)
    class_hash = cls.__dict__.get("__hash__", MISSING)
    explicit_hash = not (class_hash is MISSING or (class_hash is None and "__eq__" in cls.__dict__))
    new = _make_class(cls, all_fields)
    entries = tuple(all_fields.values())
    flds = tuple(f for f in entries if not f.classvar)
    new.__record_all__ = entries  # type: ignore[attr-defined]
    new.__record_fields__ = flds  # type: ignore[attr-defined]
    new.__record_frozen__ = frozen  # type: ignore[attr-defined]
    new.__record_repr__ = with_repr  # type: ignore[attr-defined]
    new.__dataclass_fields__ = _LazyDataclass(new, "fields")  # type: ignore[attr-defined]
    new.__dataclass_params__ = _LazyDataclass(new, "params")  # type: ignore[attr-defined]
    _methods(new, flds, frozen, with_repr, explicit_hash)
    if not getattr(new, "__doc__", None):
        new.__doc__ = _signature_doc(new, flds)
    if getattr(new, "__abstractmethods__", None):
        import abc

        abc.update_abstractmethods(new)
    return new


def _record(cls: type | None = None, /, *, frozen: bool = True, repr: bool = True) -> Any:  # noqa: A002
    if cls is None:
        return lambda klass: _process(klass, frozen, repr)
    return _process(cls, frozen, repr)


if TYPE_CHECKING:
    from typing import TypeVar, dataclass_transform, overload

    _T = TypeVar("_T")

    @overload
    def field(
        *,
        default: _T,
        repr: bool = True,
        compare: bool = True,
        metadata: Mapping[Any, Any] | None = None,
    ) -> _T: ...
    @overload
    def field(
        *,
        default_factory: Callable[[], _T],
        repr: bool = True,
        compare: bool = True,
        metadata: Mapping[Any, Any] | None = None,
    ) -> _T: ...
    @overload
    def field(
        *,
        repr: bool = True,
        compare: bool = True,
        metadata: Mapping[Any, Any] | None = None,
    ) -> Any: ...
    def field(
        *,
        default: Any = MISSING,
        default_factory: Any = MISSING,
        repr: bool = True,  # noqa: A002
        compare: bool = True,
        metadata: Mapping[Any, Any] | None = None,
    ) -> Any:
        """A field with options (``dataclasses.field``'s, those the package uses)."""

    @overload
    @dataclass_transform(frozen_default=True, field_specifiers=(field,))
    def record(cls: type[_T], /) -> type[_T]: ...
    @overload
    def record(*, frozen: bool = True, repr: bool = True) -> Callable[[type[_T]], type[_T]]: ...
    def record(cls: Any = None, /, *, frozen: bool = True, repr: bool = True) -> Any:  # noqa: A002
        """``@record``: frozen, slotted, eq, hash; ``@record(frozen=False)``; ``repr=False``."""

    def replace(obj: _T, /, **changes: Any) -> _T:
        """A copy of the record ``obj`` with ``changes`` (like ``dataclasses.replace``)."""

else:
    field = _field
    record = _record
    replace = _replace
