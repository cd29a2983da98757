"""`dataclass`, with the methods it generates compiled ahead of time.

The standard `dataclasses.dataclass` writes the source of `__init__`, `__repr__`, `__eq__`,
`__hash__`, `__setattr__` and `__delattr__` for each class and compiles it with `exec` at import:
for the IR's few dozen classes that was most of a compile's start-up (issue 16). This decorator
does the same processing for the subset of options the project uses, but takes the methods from
`vllm_compile._dataclass_methods`, a generated module (`make dataclass-methods`, written by
tools/gen_dataclass_methods.py) whose bytecode Python caches like any other module's.

The methods depend only on a class's *layout* (the options, and per field its name, default
kind, init/repr/compare/hash/kw_only): `layout()` computes it, the generated module maps each
layout to a factory that receives the class, the defaults and the default factories. A layout
missing from the generated module (a class edited without regenerating) is handed to the
standard decorator, so a stale module can cost time but never behaviour; tests/test_fastclass.py
fails until the module is regenerated, and compares every class with what
`dataclasses.dataclass` makes of the same class body.

It reuses a few private helpers of CPython 3.11's dataclasses.py (Field kinds, the params record,
the slots rebuild, the recursive-repr guard), so it is used on CPython 3.11 only; any other
Python gets the standard decorator (the same classes, built the slow way).

For type checkers this *is* `dataclasses.dataclass`.
"""
from __future__ import annotations

import abc
import dataclasses
import sys
import types
from typing import TYPE_CHECKING, Any

# (module, qualname, layout) of every class decorated here, for the generator and the tests.
DECORATED: list[tuple[str, str, str]] = []
# Set by the tests to build the reference classes with the standard decorator.
USE_STANDARD = False
SUPPORTED = sys.implementation.name == "cpython" and sys.version_info[:2] == (3, 11)

_MISSING = dataclasses.MISSING
_FIELD = dataclasses._FIELD  # type: ignore[attr-defined]
_HAS_DEFAULT_FACTORY = dataclasses._HAS_DEFAULT_FACTORY  # type: ignore[attr-defined]


def layout(params: tuple[bool, bool, bool, bool, bool], fields: list[Any], self_name: str, post_init: bool) -> str:
    """The text the generated methods depend on: (init, repr, eq, frozen, slots), the name of
    `self` in __init__, whether __post_init__ is called, and each field's name, default kind
    ("-" none, "d" a value, "f" a factory), init, repr, compare, hash and kw_only."""
    parts = ["".join(["1" if p else "0" for p in (*params, post_init)]), self_name]
    for f in fields:
        try:  # the usual booleans (and hash None) by table: a few hundred fields at every start
            kind = "f" if f.default_factory is not _MISSING else "-" if f.default is _MISSING else "d"
            parts.append(f"{f.name}:{kind}{_BIT[f.init]}{_BIT[f.repr]}{_BIT[f.compare]}"
                         f"{_HASH_BIT[f.hash]}{_BIT[f.kw_only]}")
        except (KeyError, TypeError):  # other values, spelled as ever
            parts.append(_field_layout(f))
    return " ".join(parts)


_BIT = {True: "1", False: "0"}
_HASH_BIT = {None: "n", True: "1", False: "0"}


def _field_layout(f: Any) -> str:
    kind = "f" if f.default_factory is not _MISSING else "-" if f.default is _MISSING else "d"
    hashed = "n" if f.hash is None else "1" if f.hash else "0"
    return f"{f.name}:{kind}{int(f.init)}{int(f.repr)}{int(f.compare)}{hashed}{int(f.kw_only)}"


_METHODS: dict[str, Any] | None = None


def _methods_table() -> dict[str, Any]:
    global _METHODS
    if _METHODS is None:
        try:
            from vllm_compile._dataclass_methods import METHODS
        except ImportError:  # not generated yet (the generator's first run)
            return {}
        _METHODS = METHODS
    return _METHODS


def _process(cls: type, init: bool, rep: bool, eq: bool, frozen: bool, match_args: bool, kw_only: bool,
             slots: bool) -> type | None:
    """dataclasses._process_class for the supported options; None when this class needs the
    standard decorator (an annotation or base this does not handle, or a layout not generated)."""
    for base in cls.__mro__[1:]:
        if hasattr(base, "__dataclass_fields__"):
            return None
    namespace = cls.__dict__
    annotations = namespace.get("__annotations__", {})
    fields: dict[str, Any] = {}
    Field: Any = dataclasses.Field
    for name, kind in annotations.items():
        if kind.__class__ is not str or "ClassVar" in kind or "InitVar" in kind or "KW_ONLY" in kind:
            return None
        default: Any = getattr(cls, name, _MISSING)
        if isinstance(default, Field):
            f = default
            if f.kw_only is _MISSING:
                f.kw_only = kw_only
        else:
            if isinstance(default, types.MemberDescriptorType):
                default = _MISSING
            f = Field(default, _MISSING, True, True, None, True, None, kw_only)  # what field(default=...) makes
        f.name, f.type, f._field_type = name, kind, _FIELD
        if f.default.__class__.__hash__ is None:
            raise ValueError(f"mutable default {type(f.default)} for field {f.name} is not allowed: "
                             "use default_factory")
        fields[name] = f
    field_list = list(fields.values())
    post_init = hasattr(cls, "__post_init__")
    self_name = "__dataclass_self__" if "self" in fields else "self"
    key = layout((init, rep, eq, frozen, slots), field_list, self_name, post_init)
    DECORATED.append((cls.__module__, cls.__qualname__, key))
    factory = _methods_table().get(key)
    if factory is None:
        return None

    cls.__dataclass_params__ = dataclasses._DataclassParams(  # type: ignore[attr-defined]
        init, rep, eq, False, False, frozen)
    defaults: list[Any] = []
    std: list[Any] = []
    keyword: list[Any] = []
    for f in field_list:
        if f.default_factory is not _MISSING:
            defaults.append(f.default_factory)
        elif f.default is not _MISSING:
            defaults.append(f.default)
        if isinstance(getattr(cls, f.name, None), Field):
            if f.default is _MISSING:
                delattr(cls, f.name)
            else:
                setattr(cls, f.name, f.default)
        if f.init:
            (keyword if f.kw_only else std).append(f)
    for name, value in namespace.items():
        if isinstance(value, Field) and name not in annotations:
            raise TypeError(f"{name!r} is a field but has no type annotation")
    cls.__dataclass_fields__ = fields  # type: ignore[attr-defined]
    class_hash = namespace.get("__hash__", _MISSING)
    explicit_hash = not (class_hash is _MISSING or (class_hash is None and "__eq__" in namespace))

    methods = factory(cls, dataclasses.FrozenInstanceError, _HAS_DEFAULT_FACTORY, *defaults)
    qualname, module = cls.__qualname__, cls.__module__
    for name, fn in methods.items():
        fn.__module__ = module
        if name == "__init__":
            annotated = {f.name: f.type for f in std}
            for f in keyword:
                annotated[f.name] = f.type
            annotated["return"] = None
            fn.__annotations__ = annotated
        elif name == "__repr__":
            fn = dataclasses._recursive_repr(fn)  # type: ignore[attr-defined]
        elif name == "__hash__":
            if eq and frozen and not explicit_hash:
                fn.__qualname__ = f"{qualname}.__hash__"
                cls.__hash__ = fn  # type: ignore[method-assign]
            continue
        if name in namespace:
            if name in ("__setattr__", "__delattr__"):
                raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
            continue
        fn.__qualname__ = f"{qualname}.{name}"
        setattr(cls, name, fn)
    if eq and not frozen and not explicit_hash:
        cls.__hash__ = None  # type: ignore[assignment]
    if not cls.__doc__:
        cls.__doc__ = cls.__name__ + _signature_text(std, keyword)
    if match_args and "__match_args__" not in namespace:
        setattr(cls, "__match_args__", tuple(f.name for f in std))  # noqa: B010 (mypy: a class attribute)
    if slots:
        cls = dataclasses._add_slots(cls, frozen, False)  # type: ignore[attr-defined]
    abc.update_abstractmethods(cls)
    return cls


def _signature_text(std: list[Any], keyword: list[Any]) -> str:
    """str(inspect.signature(cls)) as dataclasses puts it in a class without a docstring
    (the annotations are strings: `from __future__ import annotations`)."""
    def param(f: Any) -> str:
        text = f"{f.name}: {f.type!r}"
        if f.default_factory is not _MISSING:
            return f"{text} = {_HAS_DEFAULT_FACTORY!r}"
        return text if f.default is _MISSING else f"{text} = {f.default!r}"

    params = [param(f) for f in std] + (["*"] + [param(f) for f in keyword] if keyword else [])
    return "(" + ", ".join(params) + ")"


if TYPE_CHECKING:
    from dataclasses import dataclass as dataclass
else:
    def dataclass(cls=None, /, *, init=True, repr=True, eq=True, order=False, unsafe_hash=False, frozen=False,
                  match_args=True, kw_only=False, slots=False, weakref_slot=False):
        """dataclasses.dataclass (same signature); see the module's docstring."""
        standard = dataclasses.dataclass(init=init, repr=repr, eq=eq, order=order, unsafe_hash=unsafe_hash,
                                         frozen=frozen, match_args=match_args, kw_only=kw_only, slots=slots,
                                         weakref_slot=weakref_slot)

        def wrap(cls):
            if USE_STANDARD or not SUPPORTED or order or unsafe_hash or weakref_slot:
                return standard(cls)
            return _process(cls, init, repr, eq, frozen, match_args, kw_only, slots) or standard(cls)

        return wrap if cls is None else wrap(cls)
