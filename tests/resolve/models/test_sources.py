"""Where facts come from, in order: model.facts > model.path > lock > HF cache > catalog."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from models_support import load

from vllm_compile.diagnostics import CompileError, SourceMap
from vllm_compile.ir.spec import ModelFactsSpec, ModelSpec
from vllm_compile.resolve.models import catalog_ids, resolve_model

SRC = SourceMap("app.vllm.yaml", {"model.id": (5, 7), "model.path": (6, 9), "model": (4, 1)})
COMMIT_A = "a" * 40
COMMIT_B = "b" * 40


def resolve(model: ModelSpec, spec_dir=".", lock=None):
    return resolve_model(model, spec_dir=str(spec_dir), source=SRC, key_prefix="", lock=lock)


def hf_cache(root, model_id, snapshots: dict[str, dict], refs: dict[str, str]):
    repo = root / ("models--" + model_id.replace("/", "--"))
    for commit, config in snapshots.items():
        (repo / "snapshots" / commit).mkdir(parents=True)
        (repo / "snapshots" / commit / "config.json").write_text(json.dumps(config))
    (repo / "refs").mkdir(parents=True)
    for ref, commit in refs.items():
        (repo / "refs" / ref).write_text(commit)


def test_catalog_lists_vendored_ids():
    ids = catalog_ids()
    assert "openai/gpt-oss-20b" in ids and ids == sorted(ids)
    facts = resolve(ModelSpec(id="Qwen/Qwen3-8B"))
    assert facts.source == "catalog" and facts.num_layers == 36


def test_hf_cache_offline_with_refs_and_revision(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    small = load("Qwen/Qwen3-0.6B")
    hf_cache(tmp_path / "hub", "Qwen/Qwen3-8B", {COMMIT_A: small, COMMIT_B: load("Qwen/Qwen3-8B")},
             {"main": COMMIT_A, "v2": COMMIT_B})
    main = resolve(ModelSpec(id="Qwen/Qwen3-8B"))
    assert main.source == "hf-cache" and main.revision == COMMIT_A and main.num_layers == 28  # the cache wins
    assert resolve(ModelSpec(id="Qwen/Qwen3-8B", revision="v2")).revision == COMMIT_B
    assert resolve(ModelSpec(id="Qwen/Qwen3-8B", revision=COMMIT_B)).num_layers == 36
    # An uncached revision falls through to the catalog.
    assert resolve(ModelSpec(id="Qwen/Qwen3-8B", revision="other")).source == "catalog"


def test_hf_home_is_honoured(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    hf_cache(tmp_path / "home" / "hub", "acme/cached", {COMMIT_A: load("Qwen/Qwen3-0.6B")}, {"main": COMMIT_A})
    assert resolve(ModelSpec(id="acme/cached")).source == "hf-cache"


def test_lock_wins_over_cache_and_a_stale_lock_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    hf_cache(tmp_path / "hub", "Qwen/Qwen3-8B", {COMMIT_A: load("Qwen/Qwen3-8B")}, {"main": COMMIT_A})
    lock = {"version": 1, "models": {"Qwen/Qwen3-8B": {"revision": "main", "commit": COMMIT_B,
                                                       "config": load("Qwen/Qwen3-0.6B")}}}
    facts = resolve(ModelSpec(id="Qwen/Qwen3-8B"), lock=lock)
    assert facts.source == "lock" and facts.revision == COMMIT_B and facts.num_layers == 28
    with pytest.raises(CompileError) as err:
        resolve(ModelSpec(id="Qwen/Qwen3-8B", revision="v2"), lock=lock)
    assert "lock" in err.value.diagnostics[0].message and "vllm-compile lock" in err.value.diagnostics[0].fix


def test_local_folder_with_safetensors_headers(tmp_path):
    folder = tmp_path / "models" / "tiny"
    folder.mkdir(parents=True)
    cfg = {"model_type": "llama", "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
           "num_attention_heads": 2, "vocab_size": 10, "max_position_embeddings": 64, "torch_dtype": "float32"}
    (folder / "config.json").write_text(json.dumps(cfg))
    header = {"a": {"dtype": "F32", "shape": [10, 8], "data_offsets": [0, 320]},
              "model.layers.0.self_attn.rotary_emb.inv_freq": {"dtype": "F32", "shape": [2], "data_offsets": [320, 328]},
              "__metadata__": {"format": "pt"}}
    raw = json.dumps(header).encode()
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 328)
    facts = resolve(ModelSpec(path="models/tiny"), spec_dir=tmp_path)
    assert facts.source == "path:models/tiny" and facts.weights_from_headers
    assert facts.weight_bytes == 80 * 2     # fp32 checkpoint loads 16-bit; inv_freq buffer not loaded
    assert str(tmp_path) not in facts.source


def test_mtp_layers_left_out_of_header_counts():
    from vllm_compile.resolve.models.counting import loaded_dtype_counts
    cfg = {"num_hidden_layers": 2, "num_nextn_predict_layers": 1, "num_attention_heads": 1}
    tensors = [("model.layers.0.w", "BF16", [4, 4]), ("model.layers.1.w", "F8_E4M3", [4, 4]),
               ("model.layers.2.w", "F8_E4M3", [100, 100])]
    assert loaded_dtype_counts(tensors, cfg) == {"BF16": 16, "F8_E4M3": 16}


def test_hand_stated_facts_win():
    facts_spec = ModelFactsSpec(model_type="mystery", num_hidden_layers=2, hidden_size=64, num_attention_heads=4,
                                intermediate_size=128, vocab_size=100, max_position_embeddings=1024,
                                num_key_value_heads=2)
    f = resolve(ModelSpec(id="Qwen/Qwen3-8B", facts=facts_spec))
    assert f.source == "spec" and f.num_layers == 2 and f.num_kv_heads == 2 and not f.warnings
    # 2 × (q 64·64 + k,v 32·64 + o 64·64 + 3·128·64 + 2·64) + untied 2·100·64 + 64
    assert f.parameters == 2 * (4096 + 2 * 2048 + 4096 + 3 * 8192 + 128) + 12800 + 64


def test_unknown_model_says_where_it_looked():
    with pytest.raises(CompileError) as err:
        resolve(ModelSpec(id="Qwen/Qwen3-9B"))
    d = err.value.diagnostics[0]
    assert (d.line, d.column, d.key) == (5, 7, "model.id")
    assert "Hugging Face cache" in d.message and "catalog" in d.message and "lock" in d.message
    assert "Qwen/Qwen3-8B" in d.message                       # did you mean
    assert "vllm-compile lock" in d.fix and "model.path" in d.fix


def test_unknown_model_lists_every_place_it_looked_the_nearest_names_and_three_ways_on(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(CompileError) as err:
        resolve(ModelSpec(id="meta-llama/Llama-3.1-8B-Instruc"), spec_dir=tmp_path, lock={"models": []})
    d = err.value.diagnostics[0]
    looked = d.message.split("looked in: ", 1)[1]
    assert f"a local folder {tmp_path / 'meta-llama/Llama-3.1-8B-Instruc'} (none)" in looked
    assert f"{tmp_path / 'hub' / 'models--meta-llama--Llama-3.1-8B-Instruc'} (revision main: not cached)" in looked
    assert "the lock file app.vllm.yaml.lock (no entry for this model)" in looked
    assert f"the bundled catalog ({len(catalog_ids())} models" in looked
    nearest = d.message.split("Nearest catalog names: ", 1)[1].split(", ")
    assert nearest[0] == "meta-llama/Llama-3.1-8B-Instruct" and len(nearest) <= 3
    assert "(1) `vllm-compile lock app.vllm.yaml`" in d.fix and "(2) download the checkpoint and set model.path" in d.fix
    assert "(3) state the architecture by hand under model.facts" in d.fix and "#/$defs/ModelFactsSpec" in d.fix
    # The schema pointer is real: `vllm-compile schema` defines it.
    schema = json.loads((Path(__file__).resolve().parents[3] / "schemas" / "deployment.vllm.schema.json").read_text())
    assert "num_hidden_layers" in schema["$defs"]["ModelFactsSpec"]["properties"]


def test_a_folder_named_like_the_repo_is_pointed_out_not_read(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    (tmp_path / "acme" / "Tiny-1B").mkdir(parents=True)
    (tmp_path / "acme" / "Tiny-1B" / "config.json").write_text("{}")
    with pytest.raises(CompileError) as err:
        resolve(ModelSpec(id="acme/Tiny-1B"), spec_dir=tmp_path)
    d = err.value.diagnostics[0]
    assert "(it holds a config.json: a repo id is never read from disk)" in d.message
    assert "the lock file app.vllm.yaml.lock (none)" in d.message
    assert "(model.path: acme/Tiny-1B)" in d.fix


def test_a_name_under_another_organisation_finds_the_catalog_one(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(CompileError) as err:
        resolve(ModelSpec(id="someone-else/gpt-oss-20b"), spec_dir=tmp_path)
    assert "Nearest catalog names: openai/gpt-oss-20b" in err.value.diagnostics[0].message


def test_catalog_variants_are_the_same_architecture_with_lighter_weights():
    from vllm_compile.resolve.models.sources import _catalog

    variants = _catalog()["variants"]
    assert variants
    ids = set(catalog_ids())
    for base_id, lighter_ids in variants.items():
        base = resolve(ModelSpec(id=base_id))
        assert base.quantization is None
        assert [v.model_id for v in base.lighter_variants] == lighter_ids
        for variant in base.lighter_variants:
            assert variant.model_id in ids
            assert variant.quantization is not None
            shape = ("model_type", "num_layers", "hidden_size", "num_attention_heads", "num_kv_heads", "head_dim",
                     "intermediate_size", "vocab_size", "moe", "mla")
            assert [getattr(variant, f) for f in shape] == [getattr(base, f) for f in shape], variant.model_id
            assert variant.weight_bytes < base.weight_bytes * 0.6


def test_variants_are_not_offered_for_an_already_quantized_model():
    assert resolve(ModelSpec(id="Qwen/Qwen3-32B", quantization="fp8")).lighter_variants == ()
    assert resolve(ModelSpec(id="Qwen/Qwen3-8B")).lighter_variants == ()


def test_without_a_spec_the_ways_on_say_so(tmp_path, monkeypatch):
    # `inspect` and `predict` resolve a bare repo id: no lock file is read, and MODEL may be a folder.
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(CompileError) as err:
        resolve_model(ModelSpec(id="acme/Tiny-1B"), spec_dir=str(tmp_path), source=SourceMap("<command line>"),
                      key_prefix="")
    d = err.value.diagnostics[0]
    assert "no lock file (none is read without a spec)" in d.message
    assert "`vllm-compile lock SPEC`" in d.fix and "a spec whose model.id is acme/Tiny-1B" in d.fix
    assert "or pass the folder as MODEL" in d.fix


def test_in_catalog_is_membership_of_catalog_ids():
    from vllm_compile.resolve.models.sources import catalog_ids, in_catalog

    ids = catalog_ids()
    assert ids and all(in_catalog(model_id) for model_id in ids)
    org, repo = ids[0].split("/")
    near_misses = [org, f"{org}/", f"/{repo}", f"{org}/{repo}/", f"{org}/{repo}/config.json", f"./{ids[0]}",
                   f"{org}/../{ids[0]}", f"{org}/{repo.upper()}", "catalog.json/x", f"{org}/{repo}x", ""]
    assert [m for m in near_misses if in_catalog(m)] == [m for m in near_misses if m in ids] == []
