"""The pydantic-free validation (parse/fast.py, ir/records.py) decides and builds exactly what
pydantic's strict validation of the spec model does, whenever it decides at all."""
from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vllm_compile import pipeline
from vllm_compile.ir import records
from vllm_compile.ir.spec import SpecFile
from vllm_compile.parse.fast import validate_fast
from vllm_compile.parse.yaml_source import load_yaml

REPO = Path(__file__).resolve().parents[2]
CORPUS = sorted([*REPO.glob("specs/*.yaml"), *REPO.glob("tests/golden/*/spec.yaml")])


def _document(path: Path):
    document, _ = load_yaml(path.read_bytes(), str(path))
    return json.loads(json.dumps(document))  # what the validators see


DOCUMENTS = {path.relative_to(REPO).as_posix(): _document(path) for path in CORPUS}


def _pydantic(document):
    from pydantic import ValidationError

    try:
        return SpecFile.model_validate_json(json.dumps(document), strict=True)
    except ValidationError:
        return None


def _same(record, model) -> None:
    """Equal values, key order, fields set and dumps in every mode the compiler uses."""
    for kwargs in ({"mode": "json"}, {"mode": "json", "exclude_unset": True}, {"mode": "json", "exclude_none": True},
                   {"mode": "json", "by_alias": True}):
        assert json.dumps(record.model_dump(**kwargs)) == json.dumps(model.model_dump(**kwargs)), kwargs
    assert repr(record.model_dump()) == repr(model.model_dump())  # python mode: tuples stay tuples
    assert record.model_fields_set == model.model_fields_set


def test_packaged_schema_is_the_models():
    assert Path(records.PACKAGED).read_text(encoding="utf-8") == records.packaged_text(), (
        "vllm_compile/data/spec.schema.json is stale: run `make schema`")


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_every_example_validates_without_pydantic(name):
    document = DOCUMENTS[name]
    record, model = validate_fast(document), _pydantic(document)
    assert record is not None and model is not None
    _same(record, model)
    # Nested models too (the compiler reads them one by one).
    for field in ("hardware", "model", "engine", "workload", "server", "output", "kubernetes"):
        if getattr(model, field) is not None:
            _same(getattr(record, field), getattr(model, field))
    for dep_record, dep_model in zip(record.deployments or (), model.deployments or ()):
        _same(dep_record, dep_model)


def test_record_falls_back_to_pydantic_for_other_apis():
    record = validate_fast(DOCUMENTS["specs/llama.yaml"])
    model = _pydantic(DOCUMENTS["specs/llama.yaml"])
    assert record.model_dump_json() == model.model_dump_json()
    assert record.engine.model_copy(update={"version": "0.30.0"}).version == "0.30.0"
    with pytest.raises(AttributeError):
        record.engine.version = "0.30.0"
    import pickle

    assert copy.deepcopy(record) is record and pickle.loads(pickle.dumps(record)) == record


TRICKY = [None, True, False, 0, 1, -1, 2, 8000, 70000, 1.0, 0.5, 1.5, -0.5, math.inf, "", "x", "8000", "true",
          "auto", "llama-chat", "Llama-Chat", "meta-llama/Llama-3.1-8B-Instruct", "0.33.0", "0.33", "HF_TOKEN",
          "hf_token", "a\n", "compose", "kubernetes", "nope", "x" * 70, [], ["compose"], ["compose", "compose"],
          [1, 2], ["0", "1"], {}, {"a": 1}, {"team": "search"}, {"Bad Key": "v"}, {"name": "s", "key": "k"}]


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _mutate(document, path, action, value):
    document = copy.deepcopy(document)
    if not path:
        return document if action != "set" else value
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "set":
        parent[last] = value
    elif action == "delete":
        del parent[last]
    elif action == "add" and isinstance(parent[last], dict):
        parent[last]["unknown_key" if not isinstance(value, str) or not value else value] = value
    return document


@st.composite
def mutated(draw):
    document = DOCUMENTS[draw(st.sampled_from(sorted(DOCUMENTS)))]
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(document))
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["set", "set", "delete", "add"]))
        value = draw(st.sampled_from(TRICKY))
        document = _mutate(document, path, action, value)
    return document


@settings(derandomize=True, max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated())
def test_fuzzed_documents_decide_as_pydantic_does(document):
    record = validate_fast(document)
    if record is None:
        return  # pydantic decides (and words the diagnostics)
    model = _pydantic(document)
    assert model is not None, "accepted without pydantic but refused by pydantic"
    _same(record, model)


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_compiles_to_the_same_bytes_either_way(name, monkeypatch, tmp_path):
    spec = str(REPO / name)
    fast = pipeline.run(spec, pipeline.Options(output_dir=str(tmp_path)))
    monkeypatch.setattr("vllm_compile.parse.fast.validate_fast", lambda document: None)
    slow = pipeline.run(spec, pipeline.Options(output_dir=str(tmp_path)))
    assert type(fast.spec.hardware).__module__ == "vllm_compile.ir.records"
    assert type(slow.spec.hardware).__module__ == "vllm_compile.ir.spec"
    assert [(a.path, a.content) for a in fast.artifacts] == [(a.path, a.content) for a in slow.artifacts]
    assert fast.warnings == slow.warnings


def test_compile_does_not_import_pydantic(tmp_path):
    probe = ("import sys\nfrom vllm_compile.cli import main\ntry:\n"
             f"    main(['compile', {str(REPO / 'specs' / 'llama.yaml')!r}, '-o', {str(tmp_path)!r}])\n"
             "except SystemExit as exc:\n    assert not exc.code, exc.code\n"
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'pydantic', 'pydantic_core', 'jsonschema'}))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "[]"


def test_fields_with_validators_of_their_own_are_left_to_pydantic():
    base = DOCUMENTS["specs/llama.yaml"]
    for path, value in ((("server", "host"), "127.0.0.1"), (("server", "host"), "not-an-address"),
                        (("model", "lora_adapters"), [{"name": "a", "id": "org/a", "path": "./a"}])):
        document = copy.deepcopy(base)
        document[path[0]][path[1]] = value
        assert validate_fast(document) is None, path
    document = copy.deepcopy(base)
    document["hardware"]["device_ids"] = ["0", "1"]   # its validator keeps schema-valid input as it is
    record = validate_fast(document)
    assert record is not None and record.hardware.device_ids == ("0", "1")
    document["hardware"]["device_ids"] = [0, 1]       # ints: pydantic turns them into text
    assert validate_fast(document) is None
