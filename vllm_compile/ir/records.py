"""The spec's models as plain frozen records, built without pydantic.

`ir/spec.py` (pydantic) stays the source of the spec model and of its JSON Schema; importing
pydantic and building those models costs several times Python's own start-up, paid on every
compile. The schema generated from them is packaged (`data/spec.schema.json`, kept equal to the
model by tests/parse/test_spec_schema.py), and a record of each of its `$defs` holds a validated
spec's values (parse/fast.py validates). A record answers what the compiler asks of a spec model:
its attributes, `model_dump` (python or json mode, exclude_none/exclude_unset/by_alias) and
`model_fields_set`; anything else it hands to the equal pydantic model, built on demand.
tests/parse/test_fast_validation.py holds records and models equal over examples and fuzzed specs.
"""
from __future__ import annotations

import json
import os
from functools import cache

ROOT = "SpecFile"
OMIT = "x-omit-at-default"   # per model: the keys its dumps leave out while at their defaults
VALIDATED = "x-validated"     # per model: fields with validators of their own ("*": the whole model)


PACKAGED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "spec.schema.json")


@cache
def schema() -> dict:
    """The packaged JSON Schema of the spec, its properties in the models' field order (dumps
    follow it)."""
    with open(PACKAGED, encoding="utf-8") as handle:
        return json.load(handle)


def packaged_text() -> str:
    """What data/spec.schema.json must hold: the schema generated from the pydantic model, keys in
    the model's order (`make schema` writes it; a test compares)."""
    from pydantic import BaseModel

    from vllm_compile.ir import spec as models

    packaged = models.json_schema()
    classes = {name: model for name, model in sorted(vars(models).items())
               if isinstance(model, type) and issubclass(model, BaseModel) and model is not BaseModel}
    packaged[OMIT] = {name: list(model.OMIT_AT_DEFAULT) for name, model in classes.items()  # type: ignore[attr-defined]
                      if getattr(model, "OMIT_AT_DEFAULT", ())}
    # Validators the schema cannot state: a field with one is left to pydantic whenever given,
    # a model with a model validator ("*") whenever it appears.
    validated = {}
    for name, model in classes.items():
        decorators = model.__pydantic_decorators__
        if decorators.field_serializers or (decorators.model_serializers and not getattr(model, "OMIT_AT_DEFAULT", ())):
            raise ValueError(f"{name}: a serializer ir/records.py cannot follow; leave keys out with OMIT_AT_DEFAULT")
        kept = getattr(model, "SCHEMA_VALID_KEPT", ())
        fields = sorted({field for d in decorators.field_validators.values() for field in d.info.fields} - set(kept))
        if decorators.model_validators:
            fields = ["*"]
        if fields:
            validated[name] = fields
    packaged[VALIDATED] = validated
    return json.dumps(packaged, indent=1, ensure_ascii=False) + "\n"


def definition(name: str) -> dict:
    root = schema()
    return root if name == ROOT else root["$defs"][name]


class Record:
    """One validated spec model. Subclasses (one per model, see `record_class`) set `_name`/`_fields`."""

    __slots__ = ("_values", "_set")
    _name = ""
    _fields: tuple[str, ...] = ()

    def __init__(self, values: dict, fields_set) -> None:
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_set", frozenset(fields_set))

    def __getattr__(self, name: str):
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        if name.startswith("model_"):  # any other pydantic API: the equal pydantic model answers it
            return getattr(self.as_pydantic(), name)
        raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}")

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"{self._name} is frozen")

    def __eq__(self, other) -> bool:
        return isinstance(other, Record) and other._name == self._name and other._values == self._values

    def __hash__(self) -> int:
        return hash((self._name, json.dumps(self.model_dump(mode="json"), sort_keys=True)))

    def __copy__(self):
        return self  # frozen: a copy is the record itself

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        return _rebuild, (self._name, self._values, self._set)

    def __repr__(self) -> str:
        return f"{self._name}({', '.join(f'{k}={self._values[k]!r}' for k in self._fields)})"

    def replaced(self, **update) -> Record:
        """A copy with `update` set, as pydantic's model_copy(update=...) makes it."""
        return build(self._name, {**{k: self._values[k] for k in self._set}, **update})

    @property
    def model_fields_set(self) -> set[str]:
        return set(self._set)

    def model_dump(self, *, mode: str = "python", exclude_none: bool = False, exclude_unset: bool = False,
                   by_alias: bool = False, **other):
        if other:
            return self.as_pydantic().model_dump(mode=mode, exclude_none=exclude_none, exclude_unset=exclude_unset,
                                                 by_alias=by_alias, **other)
        out = {}
        for name in self._fields:
            if exclude_unset and name not in self._set:
                continue
            value = self._values[name]
            if exclude_none and value is None:
                continue
            out[name] = _dump(value, mode, exclude_none, exclude_unset)
        # The models' OMIT_AT_DEFAULT keys (ir/spec.py), packaged with the schema.
        properties = definition(self._name).get("properties", {})
        for key in schema().get(OMIT, {}).get(self._name, ()):
            if self._values[key] == default(properties[key]):
                out.pop(key, None)
        return out

    def as_pydantic(self):
        from vllm_compile.ir import spec as models

        model = getattr(models, self._name)
        return model.model_validate_json(json.dumps(self.model_dump(mode="json", exclude_unset=True)), strict=True)


def _rebuild(name: str, values: dict, fields_set) -> Record:
    return record_class(name)(values, fields_set)


def _dump(value, mode: str, exclude_none: bool, exclude_unset: bool):
    if isinstance(value, Record):
        return value.model_dump(mode=mode, exclude_none=exclude_none, exclude_unset=exclude_unset)
    if isinstance(value, tuple):
        items = [_dump(v, mode, exclude_none, exclude_unset) for v in value]
        return items if mode == "json" else tuple(items)
    if isinstance(value, dict):
        return {k: _dump(v, mode, exclude_none, exclude_unset) for k, v in value.items()}
    return value


@cache
def record_class(name: str) -> type[Record]:
    fields = tuple(definition(name).get("properties", {}))
    return type(name, (Record,), {"__slots__": (), "_name": name, "_fields": fields})


def build(name: str, given: dict) -> Record:
    """A record of model `name` from values already validated (records, tuples, plain values),
    the rest from the model's defaults, as pydantic fills them in."""
    definition_ = definition(name)
    values = {}
    for field, node in definition_.get("properties", {}).items():
        values[field] = given[field] if field in given else default(node)
    return record_class(name)(values, given)


class NoDefault(Exception):
    """A field without a default the schema can state (the caller falls back to pydantic)."""


def default(node: dict):
    """A missing field's value: the schema's default, or — for a default factory the schema does
    not show — the empty model or mapping."""
    if "default" in node:
        return convert(node, node["default"])
    ref = node.get("$ref")
    if ref:
        return build(ref.rsplit("/", 1)[1], {})
    if node.get("type") == "object":
        return {}
    raise NoDefault(str(node.get("title")))


def convert(node: dict, value):
    """A schema default (JSON) as the model holds it: objects of a model as records, arrays as tuples."""
    ref = node.get("$ref")
    if ref and isinstance(value, dict):
        name = ref.rsplit("/", 1)[1]
        properties = definition(name).get("properties", {})
        return build(name, {k: convert(properties.get(k, {}), v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(convert(node.get("items", {}), v) for v in value)
    return value


if __name__ == "__main__":  # `make schema`
    with open(PACKAGED, "w", encoding="utf-8") as out:
        out.write(packaged_text())
