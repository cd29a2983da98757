"""vllm_compile.fastclass.dataclass makes the same classes as dataclasses.dataclass, from methods
generated ahead of time (issue 16), and the generated module is current.

Every class the package decorates is compared with the class the standard decorator makes of the
same class body (its module executed again with `fastclass.USE_STANDARD` set): fields, options,
signature, docstring, class attributes, and the behaviour of instances (repr, eq, hash, frozen
assignment and deletion, replace, asdict, copy, pickle, errors for missing arguments)."""
from __future__ import annotations

import copy
import dataclasses
import importlib
import importlib.util
import inspect
import pickle
import pkgutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import vllm_compile
from vllm_compile import _dataclass_methods, fastclass

ROOT = Path(__file__).resolve().parent.parent
fast_only = pytest.mark.skipif(not fastclass.SUPPORTED, reason="fastclass is used on CPython 3.11 only")


def _import_everything() -> None:
    for info in pkgutil.walk_packages(vllm_compile.__path__, "vllm_compile."):
        if info.name != "vllm_compile.__main__":
            importlib.import_module(info.name)


_import_everything()
DECORATED = sorted({(module, qualname) for module, qualname, _ in fastclass.DECORATED})


def _reference_module(name: str) -> types.ModuleType:
    """The module executed once more, its classes made by dataclasses.dataclass."""
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None
    module = types.ModuleType(name)
    module.__file__ = spec.origin
    module.__package__ = name if spec.submodule_search_locations else name.rpartition(".")[0]
    code = compile(Path(spec.origin).read_text(), spec.origin, "exec")
    fastclass.USE_STANDARD = True
    try:
        exec(code, module.__dict__)
    finally:
        fastclass.USE_STANDARD = False
    return module


REFERENCES = {name: _reference_module(name) for name in sorted({m for m, _ in DECORATED})}


def _resolve(root: object, qualname: str) -> type:
    for part in qualname.split("."):
        root = getattr(root, part)
    assert isinstance(root, type)
    return root


def _field_facts(f: dataclasses.Field) -> tuple:
    factory = f.default_factory
    return (f.name, f.type, repr(f.default), getattr(factory, "__qualname__", factory), f.init, f.repr, f.hash,
            f.compare, dict(f.metadata), f.kw_only, f._field_type)  # type: ignore[attr-defined]


def _outcome(call):
    try:
        result = call()
    except Exception as exc:  # the exception's type and message are part of the behaviour
        return ("raised", type(exc).__name__, str(exc))
    return ("returned", repr(result))


@fast_only
def test_the_package_decorates_its_classes_here():
    assert len(DECORATED) >= 60
    from vllm_compile.ir.facts import ModelFacts

    assert ModelFacts.__init__.__code__.co_filename == _dataclass_methods.__file__


@fast_only
def test_generated_module_is_current():
    # In a fresh process: the generator imports every module and records what it decorates.
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_dataclass_methods.py"), "--check"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr


@fast_only
def test_every_decorated_class_takes_the_generated_methods():
    missing = [f"{m}.{q}" for m, q, key in fastclass.DECORATED if key not in _dataclass_methods.METHODS]
    assert not missing


@fast_only
def test_a_layout_that_was_not_generated_gets_the_standard_decorator():
    @fastclass.dataclass(frozen=True)
    class Unlisted:
        a_field_nobody_generated: int
        another: str = "x"

    assert "__create_fn__" in Unlisted.__init__.__code__.co_qualname
    assert repr(Unlisted(1)) == "test_a_layout_that_was_not_generated_gets_the_standard_decorator.<locals>." \
                                "Unlisted(a_field_nobody_generated=1, another='x')"


@pytest.mark.parametrize(("module", "qualname"), DECORATED, ids=[f"{m}.{q}" for m, q in DECORATED])
def test_same_class_as_dataclasses_makes(module, qualname):
    fast = _resolve(sys.modules[module], qualname)
    ref = _resolve(REFERENCES[module], qualname)
    if fastclass.SUPPORTED:  # elsewhere both are the standard decorator's
        assert fast.__init__.__code__.co_filename == _dataclass_methods.__file__  # type: ignore[misc]
        assert "__create_fn__" in ref.__init__.__code__.co_qualname  # type: ignore[misc]

    # The class itself.
    for attr in ("__name__", "__qualname__", "__module__", "__doc__", "__match_args__", "__slots__"):
        assert getattr(fast, attr, None) == getattr(ref, attr, None), attr
    assert repr(fast.__dataclass_params__) == repr(ref.__dataclass_params__)  # type: ignore[attr-defined]
    assert list(vars(fast)) == list(vars(ref))
    assert [_field_facts(f) for f in dataclasses.fields(fast)] == [_field_facts(f) for f in dataclasses.fields(ref)]
    assert str(inspect.signature(fast)) == str(inspect.signature(ref))
    for name in ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__", "__getstate__",
                 "__setstate__"):
        mine, theirs = vars(fast).get(name, "absent"), vars(ref).get(name, "absent")
        if callable(theirs) and getattr(theirs, "__module__", None) == module:
            assert callable(mine) and (mine.__name__, mine.__qualname__, mine.__module__) == (
                theirs.__name__, theirs.__qualname__, theirs.__module__), name
        else:
            assert mine is theirs or mine == theirs, name

    # Instances: every init field given a distinct value, positionally where dataclasses allows it.
    init = [f for f in dataclasses.fields(fast) if f.init]
    values = {f.name: ("value", index) for index, f in enumerate(init)}
    positional = [values[f.name] for f in init if not f.kw_only]
    keyword = {f.name: values[f.name] for f in init if f.kw_only}
    a, b = fast(*positional, **keyword), ref(*positional, **keyword)
    assert repr(a) == repr(b)
    assert _outcome(lambda: hash(a)) == _outcome(lambda: hash(b))
    assert (a == fast(**values), b == ref(**values)) == (True, True)
    assert (a == b, b == a) == (False, False)
    for f in init:
        other = {**values, f.name: ("other", 0)}
        assert (a == fast(**other)) == (b == ref(**other)), f.name
        assert repr(dataclasses.replace(a, **{f.name: 1})) == repr(dataclasses.replace(b, **{f.name: 1}))
        # On fresh instances: a class that is not frozen lets both succeed.
        c, d = fast(**values), ref(**values)
        assert _outcome(lambda c=c, f=f: setattr(c, f.name, 2)) == _outcome(lambda d=d, f=f: setattr(d, f.name, 2))
        assert repr(c) == repr(d)
        assert _outcome(lambda c=c, f=f: delattr(c, f.name)) == _outcome(lambda d=d, f=f: delattr(d, f.name))
    assert _outcome(lambda: setattr(a, "not_a_field", 1)) == _outcome(lambda: setattr(b, "not_a_field", 1))
    assert _outcome(lambda: delattr(a, "not_a_field")) == _outcome(lambda: delattr(b, "not_a_field"))
    assert dataclasses.asdict(a) == dataclasses.asdict(b)
    assert repr(copy.copy(a)) == repr(copy.copy(b))
    assert pickle.loads(pickle.dumps(a)) == a  # (the reference class is not importable under its name)
    assert _outcome(lambda: fast()) == _outcome(lambda: ref())
    assert _outcome(lambda: fast(*positional, *positional)) == _outcome(lambda: ref(*positional, *positional))


def test_layout_spells_every_field_as_the_per_field_rule_does():
    # The table lookups of layout() and the per-field spelling agree, for the usual booleans and
    # for other values a field option may hold (2, 0, 1.0).
    import dataclasses

    from vllm_compile.fastclass import _field_layout, layout

    fields = []
    for i, options in enumerate([{}, {"default": 1, "repr": False, "hash": True}, {"default_factory": list, "init": False},
                                 {"repr": 2, "hash": 0}, {"compare": 1.0, "hash": None}]):
        f = dataclasses.field(**options)
        f.name, f.kw_only = f"f{i}", bool(i % 2)
        fields.append(f)
    assert layout((True, True, True, False, True), fields, "self", True) == " ".join(
        ["111011", "self", *(_field_layout(f) for f in fields)])
