"""`vllm-compile schema` prints the committed JSON Schema, and that schema is a valid draft 2020-12
schema that the example specs satisfy (checked with jsonschema, independently of the compiler)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from vllm_compile.cli import cli

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "schemas" / "deployment.vllm.schema.json"


@pytest.fixture(scope="module")
def printed() -> dict:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_prints_the_committed_schema(printed):
    assert printed == json.loads(COMMITTED.read_text())


def test_is_a_valid_2020_12_schema(printed):
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(printed)


@pytest.mark.parametrize("spec", sorted(p.name for p in (REPO / "specs").glob("*.yaml")))
def test_example_specs_validate(printed, spec):
    path = REPO / "specs" / spec
    assert path.read_text().startswith("# yaml-language-server: $schema=")
    document = YAML(typ="safe", pure=True).load(path.read_text())
    assert list(Draft202012Validator(printed).iter_errors(document)) == []


def test_schema_refuses_an_unknown_key(printed):
    document = YAML(typ="safe", pure=True).load((REPO / "specs" / "llama.yaml").read_text())
    document["engine"]["tensor_paralel_size"] = 2
    errors = list(Draft202012Validator(printed).iter_errors(document))
    assert errors and "tensor_paralel_size" in errors[0].message
