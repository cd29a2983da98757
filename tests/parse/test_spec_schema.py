"""The JSON Schema generated from the spec model: draft 2020-12, closed objects, described
properties, the committed copy, the example specs, and agreement with parse_spec."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from parse_support import MINIMAL
from vllm_compile.diagnostics import CompileError
from vllm_compile.ir.spec import json_schema
from vllm_compile.parse import parse_spec

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "schemas" / "deployment.vllm.schema.json"
SCHEMA_LINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)\s*$")


def _nodes(node, path="#"):
    """Every dict in the schema with its JSON pointer-ish path."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _nodes(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _nodes(value, f"{path}/{i}")


def _resolve(schema: dict, node: dict) -> dict:
    ref = node.get("$ref")
    if not ref:
        return node
    assert ref.startswith("#/$defs/"), ref
    return schema["$defs"][ref.split("/")[-1]]


def _load_yaml(text: str):
    # An independent loader (not the package's) for what the schema validator sees.
    from ruamel.yaml import YAML

    return YAML(typ="safe", pure=True).load(text)


def _validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json_schema())


def test_schema_declares_and_satisfies_draft_2020_12():
    from jsonschema import Draft202012Validator

    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_every_object_refuses_unknown_keys():
    schema = json_schema()
    objects = [(p, n) for p, n in _nodes(schema) if n.get("type") == "object" or "properties" in n]
    assert len(objects) >= 9  # top level + Deployment/Model/Facts/Hardware/Workload/Engine/Server/Output
    for path, node in objects:
        assert node.get("additionalProperties") is False, path
        if "patternProperties" in node and "properties" not in node:
            continue   # a map whose keys have a form (Kubernetes labels): other keys are refused

        assert "patternProperties" not in node, path


def test_every_property_has_a_description():
    schema = json_schema()
    missing, ref_only = [], []
    for path, node in _nodes(schema):
        for name, prop in (node.get("properties") or {}).items():
            if prop.get("description"):
                continue
            # A bare $ref still shows a description in editors when its target has one.
            if _resolve(schema, prop).get("description"):
                ref_only.append(f"{path}/{name}")
            else:
                missing.append(f"{path}/{name}")
    assert not missing
    # Every key a user can write is covered (sanity: the walk really saw the properties).
    assert len(ref_only) < 10


def test_schema_knows_the_issue_keys():
    defs = json_schema()["$defs"]
    props = {name: set(d.get("properties", {})) for name, d in defs.items()}
    assert {"id", "path", "revision", "dtype", "quantization", "trust_remote_code",
            "served_model_name"} <= props["ModelSpec"]
    assert {"gpu", "count", "memory_gib"} <= props["HardwareSpec"]
    assert {"max_model_len", "concurrency"} <= props["WorkloadSpec"]
    assert {"version", "tensor_parallel_size", "pipeline_parallel_size", "gpu_memory_utilization",
            "kv_cache_dtype", "max_num_seqs", "max_num_batched_tokens", "enforce_eager",
            "extra_args"} <= props["EngineSpec"]
    assert {"port", "api_key_env", "hf_token_env"} <= props["ServerSpec"]
    assert "dir" in props["OutputSpec"]


def test_committed_schema_equals_the_generated_one():
    assert COMMITTED.is_file(), "schemas/deployment.vllm.schema.json is missing: generate it with `vllm-compile schema`"
    generated = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    assert COMMITTED.read_text(encoding="utf-8") == generated


def test_schema_command_prints_the_generated_schema():
    from click.testing import CliRunner

    from vllm_compile.commands.schema import command

    result = CliRunner().invoke(command, [])
    assert result.exit_code == 0
    assert json.loads(result.output) == json_schema()


def _example_specs() -> list[Path]:
    specs = []
    for path in sorted((REPO / "specs").rglob("*.yaml")):
        first = path.read_text(encoding="utf-8").splitlines()[:1]
        if first and SCHEMA_LINE.match(first[0]):
            specs.append(path)
    return specs


def test_every_top_level_example_spec_is_recognised():
    found = set(_example_specs())
    top = set((REPO / "specs").glob("*.yaml"))
    assert top, "no specs/*.yaml"
    assert top <= found, "every specs/*.yaml starts with a yaml-language-server $schema line"


@pytest.mark.parametrize("path", _example_specs(), ids=lambda p: str(p.relative_to(REPO)))
def test_example_spec_validates_against_the_schema_and_parses(path):
    text = path.read_text(encoding="utf-8")
    errors = sorted(_validator().iter_errors(_load_yaml(text)), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    parse_spec(str(path))
    # The $schema line points at the committed schema.
    target = (path.parent / SCHEMA_LINE.match(text.splitlines()[0]).group(1)).resolve()
    assert target == COMMITTED.resolve()


# --------------------------------------------------------------------------------------------
# Agreement: the schema (editors, check-jsonschema) and parse_spec reject the same documents.

ISSUE_EXAMPLE = """\
version: 1
name: llama-chat
model:
  id: meta-llama/Llama-3.1-8B-Instruct
  path: ./models/llama
  revision: main
  dtype: auto
  quantization: null
  trust_remote_code: false
  served_model_name: llama
hardware:
  gpu: H100-80GB
  count: 1
  memory_gib: null
workload:
  max_model_len: 32768
  concurrency: 8
engine:
  version: "0.33.0"
  tensor_parallel_size: null
  pipeline_parallel_size: 1
  gpu_memory_utilization: null
  kv_cache_dtype: auto
  max_num_seqs: null
  max_num_batched_tokens: null
  enforce_eager: false
  extra_args: []
server:
  port: 8000
  api_key_env: null
  hf_token_env: HF_TOKEN
output:
  dir: deploy/llama-chat
"""

VALID = {
    "minimal": MINIMAL,
    "issue-example": ISSUE_EXAMPLE,
    "integers-for-numbers": MINIMAL.replace("  gpu: H100-80GB\n", "  gpu: H100-80GB\n  memory_gib: 80\n")
    + "  gpu_memory_utilization: 1\n",
    "device-ids": MINIMAL.replace("  gpu: H100-80GB\n", "  gpu: H100-80GB\n  count: 2\n  device_ids: ['0', '1']\n"),
    "multi": """\
version: 1
hardware: {gpu: H100, count: 2}
deployments:
  - name: a
    model: {id: a/b}
    engine: {version: "0.33.0", tensor_parallel_size: 1}
  - name: b
    model: {path: ./models/b}
    engine: {version: "0.10.1.1"}
    server: {port: 8001}
""",
}


def _swap(old: str, new: str) -> str:
    assert old in MINIMAL
    return MINIMAL.replace(old, new, 1)


INVALID = {
    "unknown-top-key": MINIMAL + "extra: 1\n",
    "unknown-nested-key": MINIMAL + "  tensor_paralel_size: 2\n",
    "missing-hardware": _swap("hardware:\n  gpu: H100-80GB\n", ""),
    "missing-gpu": _swap("  gpu: H100-80GB\n", "  count: 1\n"),
    "missing-name": _swap("name: llama-chat\n", ""),
    "count-word": _swap("  gpu: H100-80GB\n", "  gpu: H100-80GB\n  count: two\n"),
    "count-zero": _swap("  gpu: H100-80GB\n", "  gpu: H100-80GB\n  count: 0\n"),
    "bad-name": _swap("name: llama-chat", "name: Llama_Chat"),
    "spec-version-2": _swap("version: 1", "version: 2"),
    "unquoted-release": _swap('version: "0.33.0"', "version: 0.33"),
    "release-text": _swap('version: "0.33.0"', 'version: "latest"'),
    "port-range": MINIMAL + "server:\n  port: 70000\n",
    "env-name-lowercase": MINIMAL + "server:\n  api_key_env: my_key\n",
    "util-above-one": MINIMAL + "  gpu_memory_utilization: 1.5\n",
    "dtype-choice": _swap("  id: meta", "  dtype: bf16\n  id: meta"),
    "formats-choice": MINIMAL + "output:\n  formats: [helm]\n",
    "both-single-and-multi": MINIMAL + "deployments:\n  - name: b\n    model: {id: a/b}\n    engine: {version: \"0.33.0\"}\n",
    "extra-args-not-list": MINIMAL + "  extra_args: --seed 1\n",
    "repo-id-form": _swap("meta-llama/Llama-3.1-8B-Instruct", "just-a-name"),
    # Lax coercions: YAML typed these as str/bool; the schema says integer/boolean.
    "count-quoted": _swap("  gpu: H100-80GB\n", "  gpu: H100-80GB\n  count: \"2\"\n"),
    "count-bool": _swap("  gpu: H100-80GB\n", "  gpu: H100-80GB\n  count: true\n"),
    "eager-quoted": MINIMAL + "  enforce_eager: \"true\"\n",
    "port-quoted": MINIMAL + "server:\n  port: \"8000\"\n",
}



@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_documents_accepted_by_both(name):
    text = VALID[name]
    errors = list(_validator().iter_errors(_load_yaml(text)))
    assert not errors, [e.message for e in errors]
    parse_spec("specs/agree.vllm.yaml", text.encode())


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_documents_rejected_by_both(name):
    text = INVALID[name]
    schema_errors = list(_validator().iter_errors(_load_yaml(text)))
    assert schema_errors, "the JSON Schema accepts this document"
    # count-quoted, count-bool, eager-quoted, port-quoted: pydantic's lax mode would coerce
    # "2"/true/"true"/"8000" and accept what the schema (and every editor using it) rejects.
    with pytest.raises(CompileError):
        parse_spec("specs/agree.vllm.yaml", text.encode())
