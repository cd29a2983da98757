"""model.lora_adapters: each adapter's rank from its adapter_config.json, offline."""
from __future__ import annotations

import json

import pytest

from vllm_compile.diagnostics import CompileError, SourceMap
from vllm_compile.ir.spec import ModelSpec
from vllm_compile.resolve.models import resolve_model

SRC = SourceMap("app.vllm.yaml", {"model.lora_adapters[0].path": (7, 13), "model.lora_adapters[1].id": (9, 11),
                                  "model.lora_adapters[1].revision": (10, 17), "model.lora_adapters[1].name": (8, 9)})
COMMIT = "c" * 40


def resolve(tmp_path, adapters, **model):
    spec = ModelSpec.model_validate({"id": "Qwen/Qwen3-8B", "lora_adapters": adapters, **model})
    return resolve_model(spec, spec_dir=str(tmp_path), source=SRC, key_prefix="")


def adapter(folder, config):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text(json.dumps(config))


def cached_adapter(root, repo, config):
    base = root / ("models--" + repo.replace("/", "--"))
    adapter(base / "snapshots" / COMMIT, config)
    (base / "refs").mkdir()
    (base / "refs" / "main").write_text(COMMIT)


def test_local_adapters_in_order_with_their_ranks(tmp_path):
    adapter(tmp_path / "adapters" / "sql", {"peft_type": "LORA", "r": 24})
    adapter(tmp_path / "adapters" / "chat", {"r": 8, "rank_pattern": {"q_proj": 48}})
    facts = resolve(tmp_path, [{"name": "sql", "path": "adapters/sql"}, {"name": "chat", "path": "./adapters/chat"}])
    assert [(a.name, a.rank, a.source) for a in facts.lora_adapters] == [
        ("sql", 24, "path:adapters/sql"), ("chat", 48, "path:./adapters/chat")]
    assert facts.num_layers == 36   # the model itself is resolved as before


def test_adapter_by_id_read_from_the_hf_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    cached_adapter(tmp_path / "hub", "org/chat-lora", {"r": 64})
    [found] = resolve(tmp_path, [{"name": "chat", "id": "org/chat-lora"}]).lora_adapters
    assert (found.rank, found.repo_id, found.source) == (64, "org/chat-lora", f"hf-cache:org/chat-lora@{COMMIT}")


def test_every_adapter_problem_at_once_at_its_key(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    (tmp_path / "adapters" / "sql").mkdir(parents=True)
    with pytest.raises(CompileError) as caught:
        resolve(tmp_path, [{"name": "sql", "path": "adapters/sql"}, {"name": "chat", "id": "org/chat-lora"}])
    found = {(d.key, d.line, d.column): d for d in caught.value.diagnostics}
    assert set(found) == {("model.lora_adapters[0].path", 7, 13), ("model.lora_adapters[1].id", 9, 11)}
    assert "no adapter_config.json" in found["model.lora_adapters[0].path", 7, 13].message
    missing = found["model.lora_adapters[1].id", 9, 11]
    assert "not in the Hugging Face cache" in missing.message and "hf download org/chat-lora" in missing.fix


def test_revision_is_refused_because_vllm_takes_none(tmp_path):
    adapter(tmp_path / "a", {"r": 8})
    with pytest.raises(CompileError) as caught:
        resolve(tmp_path, [{"name": "a", "path": "a"}, {"name": "b", "id": "org/b", "revision": "v2"}])
    [d] = caught.value.diagnostics
    assert d.key == "model.lora_adapters[1].revision" and "takes no revision" in d.message


@pytest.mark.parametrize("config", [{"peft_type": "IA3"}, {"r": 0}, {"r": "16"}, {"r": 8, "rank_pattern": {"x": True}}])
def test_not_a_lora_adapter(tmp_path, config):
    adapter(tmp_path / "a", config)
    with pytest.raises(CompileError) as caught:
        resolve(tmp_path, [{"name": "a", "path": "a"}])
    assert "no LoRA rank" in caught.value.diagnostics[0].message


def test_duplicate_names_are_refused(tmp_path):
    adapter(tmp_path / "a", {"r": 8})
    with pytest.raises(CompileError) as caught:
        resolve(tmp_path, [{"name": "x", "path": "a"}, {"name": "x", "path": "a"}])
    [d] = caught.value.diagnostics
    assert d.key == "model.lora_adapters[1].name" and "already taken" in d.message


@pytest.mark.parametrize("entry", [{"name": "x"}, {"name": "x", "path": "a", "id": "o/r"}, {"name": "a=b", "path": "a"}])
def test_schema_wants_one_source_and_a_plain_name(entry):
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        ModelSpec.model_validate({"id": "o/m", "lora_adapters": [entry]})
