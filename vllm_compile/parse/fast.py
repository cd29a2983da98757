"""Validate a spec document without pydantic, against the packaged JSON Schema of the spec model.

It accepts only what pydantic's strict JSON-mode validation of `ir.spec.SpecFile` accepts, and
builds the same values as records (`ir/records.py`). Whatever it is not sure of — any violation,
and any schema construct it does not know — returns None, and the caller validates with pydantic,
which also words the diagnostics. So this path decides nothing pydantic would decide otherwise;
tests/parse/test_fast_validation.py compares the two over the examples and fuzzed documents.
"""
from __future__ import annotations

import math
import re
from functools import cache

from vllm_compile.ir.records import ROOT, VALIDATED, NoDefault, Record, build, default, definition, schema

# Keywords that only document a node.
NOTES = frozenset({"title", "description", "default", "examples", "$schema", "$id", "$defs", "x-omit-at-default",
                   "x-validated"})


class Unsure(Exception):
    """Not provably valid here: pydantic decides."""


def validate_fast(document) -> Record | None:
    """The SpecFile record of a JSON-like document (what `json.loads(json.dumps(yaml))` gives),
    or None when pydantic must decide."""
    try:
        return _model(ROOT, document)
    except (Unsure, NoDefault):
        return None


@cache
def _pattern(text: str) -> re.Pattern:
    # pydantic's (Rust) `$` is the end of the text; Python's also matches before a final newline.
    return re.compile(text[:-1] + r"\Z" if text.endswith("$") else text)


def _model(name: str, value) -> Record:
    node = definition(name)
    if type(value) is not dict:
        raise Unsure
    properties = node.get("properties", {})
    known = NOTES | {"type", "properties", "required", "additionalProperties", "oneOf"}
    if set(node) - known or node.get("additionalProperties", False) is not False or set(value) - set(properties):
        raise Unsure
    if any(key not in value for key in node.get("required", ())):
        raise Unsure
    validated = schema().get(VALIDATED, {}).get(name, ())
    if "*" in validated or any(key in value for key in validated):
        raise Unsure  # a validator of the model's own: pydantic runs it
    if "oneOf" in node:  # alternatives of required keys: exactly one must hold
        holds = [all(k in value for k in option.get("required", ())) for option in node["oneOf"]]
        if any(set(option) - {"required"} for option in node["oneOf"]) or holds.count(True) != 1:
            raise Unsure
    given = {key: _value(properties[key], item) for key, item in value.items()}
    for key, field in properties.items():
        if key not in given:
            default(field)  # raises NoDefault when the schema cannot state it
    return build(name, given)


def _value(node: dict, value):
    keys = set(node) - NOTES
    if "$ref" in node:
        if keys != {"$ref"}:
            raise Unsure
        return _model(node["$ref"].rsplit("/", 1)[1], value)
    if "anyOf" in node:
        if keys != {"anyOf"}:
            raise Unsure
        for option in node["anyOf"]:
            try:
                return _value(option, value)
            except Unsure:
                continue
        raise Unsure
    if "const" in node:
        if keys - {"const", "type"} or type(value) is not type(node["const"]) or value != node["const"]:
            raise Unsure
        return value
    if "enum" in node:
        if keys - {"enum", "type"} or not any(type(value) is type(e) and value == e for e in node["enum"]):
            raise Unsure
        return value
    kind = str(node.get("type"))
    checker = _CHECKS.get(kind)
    if checker is None or keys - _KEYWORDS[kind]:
        raise Unsure
    return checker(node, value)


def _null(node, value):
    if value is not None:
        raise Unsure
    return None


def _string(node, value):
    if type(value) is not str:
        raise Unsure
    if len(value) < node.get("minLength", 0) or len(value) > node.get("maxLength", math.inf):
        raise Unsure
    if "pattern" in node and not _pattern(node["pattern"]).search(value):
        raise Unsure
    return value


def _bounds(node, value) -> None:
    if ("minimum" in node and value < node["minimum"]) or ("maximum" in node and value > node["maximum"]) or (
            "exclusiveMinimum" in node and value <= node["exclusiveMinimum"]) or (
            "exclusiveMaximum" in node and value >= node["exclusiveMaximum"]):
        raise Unsure


def _integer(node, value):
    if type(value) is not int:
        raise Unsure
    _bounds(node, value)
    return value


def _number(node, value):
    if type(value) not in (int, float) or not math.isfinite(value):
        raise Unsure
    _bounds(node, value)
    return float(value)


def _boolean(node, value):
    if type(value) is not bool:
        raise Unsure
    return value


def _array(node, value):
    if type(value) is not list:
        raise Unsure
    if len(value) < node.get("minItems", 0) or len(value) > node.get("maxItems", math.inf):
        raise Unsure
    return tuple(_value(node.get("items", {"type": "?"}), item) for item in value)


def _mapping(node, value):
    if type(value) is not dict or "properties" in node:
        raise Unsure
    names = node.get("propertyNames", {})
    if set(names) - {"maxLength", "minLength"}:
        raise Unsure
    patterns = node.get("patternProperties", {})
    extra = node.get("additionalProperties", True)
    out = {}
    for key, item in value.items():
        _string(names, key)
        matched = [schema for pattern, schema in patterns.items() if _pattern(pattern).search(key)]
        if len(matched) > 1:
            raise Unsure
        if matched:
            out[key] = _value(matched[0], item)
        elif isinstance(extra, dict):
            out[key] = _value(extra, item)
        else:
            raise Unsure  # additionalProperties false (or a bare true: any value, unchecked here)
    return out


_CHECKS = {"null": _null, "string": _string, "integer": _integer, "number": _number, "boolean": _boolean,
           "array": _array, "object": _mapping}
_KEYWORDS = {
    "null": {"type"}, "string": {"type", "minLength", "maxLength", "pattern"},
    "integer": {"type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"},
    "number": {"type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"},
    "boolean": {"type"}, "array": {"type", "items", "minItems", "maxItems"},
    "object": {"type", "propertyNames", "patternProperties", "additionalProperties"},
}
