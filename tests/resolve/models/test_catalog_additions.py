"""The configs issue 14 added to the catalog: each resolves offline from the catalog alone, its
parameter count matches the published size (sizes.csv), and what the planner cannot model is
said so instead of guessed."""
from __future__ import annotations

import csv
import re

import pytest
from models_support import PUBLISHED

from vllm_compile.diagnostics import SourceMap
from vllm_compile.ir.spec import ModelSpec
from vllm_compile.resolve.models import resolve_model
from vllm_compile.resolve.models.catalog import catalog_entries, entry

ADDED = ["meta-llama/Llama-3.3-70B-Instruct", "deepseek-ai/DeepSeek-V3.1", "deepseek-ai/DeepSeek-V3.2",
         "Qwen/Qwen3-Coder-480B-A35B-Instruct", "mistralai/Magistral-Small-2509",
         "Qwen/Qwen3-235B-A22B-Instruct-2507", "microsoft/Phi-4-mini-instruct",
         "Qwen/QwQ-32B", "Qwen/Qwen2.5-72B-Instruct", "meta-llama/Meta-Llama-3-8B-Instruct",
         "Qwen/Qwen3-30B-A3B-Instruct-2507", "Qwen/Qwen3-4B-Thinking-2507"]


def published() -> dict[str, str]:
    with open(PUBLISHED / "sizes.csv", newline="") as fh:
        return {row["model"]: row["params_published"] for row in csv.DictReader(fh)}


@pytest.fixture(autouse=True)
def empty_hf_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))


@pytest.mark.parametrize("model_id", ADDED)
def test_resolves_offline_from_the_catalog(model_id):
    facts = resolve_model(ModelSpec(id=model_id), spec_dir=".", source=SourceMap("t.yaml"), key_prefix="")
    assert facts.source == "catalog" and facts.model_id == model_id
    row = entry(model_id)
    assert row.modelled == "yes" and row.parameters == facts.parameters
    assert not any("not a known family" in w for w in facts.warnings)


def test_every_catalog_model_is_modelled():
    # Issue 15's target: no bundled model is left to a guessed layout.
    gaps = {row.model_id: row.modelled for row in catalog_entries() if row.modelled != "yes"}
    assert not gaps, gaps


@pytest.mark.parametrize("model_id", ADDED)
def test_parameter_count_matches_the_published_size(model_id):
    sizes = published()
    if model_id not in sizes:
        pytest.skip("no published size")
    value = sizes[model_id]
    facts = resolve_model(ModelSpec(id=model_id), spec_dir=".", source=SourceMap("t.yaml"), key_prefix="")
    if value.isdigit():
        # The HF API total; a multimodal checkpoint's also counts its encoder, which the planner
        # counts from vision_config where the tower is in vision.py's table (Magistral's Pixtral).
        if facts.multimodal and facts.encoder is None:
            assert facts.parameters < int(value)
        else:
            assert facts.parameters == int(value)
        return
    # A model card's "671B total", "480B in total": the count rounds to it; a total that names
    # the MTP module counts its layers and its own embedding and head copies too.
    billions = int(re.match(r"(\d+)B", value).group(1))
    count = facts.parameters
    if "MTP" in value:
        count += sum(layer.parameters for layer in facts.mtp_layers) + 2 * facts.vocab_size * facts.hidden_size
    assert round(count / 1e9) == billions, (count, value)


def test_llama_3_3_is_llama_3_1_70b_with_another_release():
    a = resolve_model(ModelSpec(id="meta-llama/Llama-3.3-70B-Instruct"), spec_dir=".", source=SourceMap("t"),
                      key_prefix="")
    b = resolve_model(ModelSpec(id="meta-llama/Llama-3.1-70B-Instruct"), spec_dir=".", source=SourceMap("t"),
                      key_prefix="")
    assert a.parameters == b.parameters == 70_553_706_496 and a.gated
    assert a.max_position_embeddings == 131072


def test_deepseek_v3_1_is_the_v3_layout_with_ue8m0_scales():
    v31 = resolve_model(ModelSpec(id="deepseek-ai/DeepSeek-V3.1"), spec_dir=".", source=SourceMap("t"), key_prefix="")
    v3 = resolve_model(ModelSpec(id="deepseek-ai/DeepSeek-V3"), spec_dir=".", source=SourceMap("t"), key_prefix="")
    assert v31.parameters == v3.parameters and v31.weight_bytes == v3.weight_bytes
    assert v31.quantization.method == "fp8" and v31.quantization.weight_block_size == (128, 128)
    assert v31.mla is not None and v31.moe.num_experts == 256


def test_qwen3_2507_is_the_235b_layout_with_a_256k_context():
    new = resolve_model(ModelSpec(id="Qwen/Qwen3-235B-A22B-Instruct-2507"), spec_dir=".", source=SourceMap("t"),
                        key_prefix="")
    old = resolve_model(ModelSpec(id="Qwen/Qwen3-235B-A22B"), spec_dir=".", source=SourceMap("t"), key_prefix="")
    assert new.parameters == old.parameters and new.layers == old.layers
    assert (old.max_position_embeddings, new.max_position_embeddings) == (40960, 262144)


@pytest.mark.parametrize("new_id,old_id,params", [
    ("Qwen/Qwen3-30B-A3B-Instruct-2507", "Qwen/Qwen3-30B-A3B", 30_532_122_624),
    ("Qwen/Qwen3-4B-Thinking-2507", "Qwen/Qwen3-4B", 4_022_468_096),
])
def test_smaller_qwen3_2507_releases_keep_the_layout_and_grow_the_context(new_id, old_id, params):
    new = resolve_model(ModelSpec(id=new_id), spec_dir=".", source=SourceMap("t"), key_prefix="")
    old = resolve_model(ModelSpec(id=old_id), spec_dir=".", source=SourceMap("t"), key_prefix="")
    assert new.parameters == old.parameters == params and new.weight_bytes == old.weight_bytes
    assert (old.max_position_embeddings, new.max_position_embeddings) == (40960, 262144)


def test_phi4_mini_weights_equal_the_published_bf16_bytes():
    # sizes.csv: a run record of revision cfbefacb99 expects 7672043520 bytes of bf16 weights.
    phi = resolve_model(ModelSpec(id="microsoft/Phi-4-mini-instruct"), spec_dir=".", source=SourceMap("t"),
                        key_prefix="")
    assert phi.weight_bytes == 7_672_043_520 and phi.tie_word_embeddings and phi.vocab_size == 200064
