"""`vllm-compile models [PATTERN]`: the bundled catalog, computed from the vendored configs."""
from __future__ import annotations

import json

from click.testing import CliRunner

from vllm_compile.cli import cli
from vllm_compile.resolve.models import catalog_ids
from vllm_compile.resolve.models.catalog import modelling_gap


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def models_json(*args) -> list[dict]:
    result = invoke("models", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["models"]


def test_every_catalog_model_is_listed_with_what_inspect_says(workdir):
    rows = {r["model_id"]: r for r in models_json()}
    assert sorted(rows) == catalog_ids()
    for model_id in ("meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen3-30B-A3B-FP8", "openai/gpt-oss-20b"):
        facts = json.loads(invoke("inspect", model_id, "--format", "json").stdout)
        row = rows[model_id]
        assert (row["parameters"], row["weight_bytes"], row["max_context"], row["gated"]) == (
            facts["parameters"], facts["weight_bytes"], facts["max_position_embeddings"], facts["gated"])
        assert row["model_type"] == facts["model_type"] and row["modelled"] == "yes"
    llama = rows["meta-llama/Llama-3.1-8B-Instruct"]
    assert llama["gated"] and llama["dtype"] == "bfloat16" and llama["quantization"] is None
    assert rows["Qwen/Qwen3-30B-A3B-FP8"]["quantization"] == "fp8 (block 128x128)"
    assert rows["twhoool02/Llama-2-7b-chat-hf-AWQ"]["quantization"] == "awq 4-bit (group 128)"
    assert rows["nvidia/Llama-3.1-70B-Instruct-FP8"]["quantization"] == "modelopt fp8 (per-tensor)"
    assert rows["openai/gpt-oss-20b"]["quantization"] == "mxfp4 4-bit"
    # A float32 checkpoint is stored at 4 bytes a weight and loaded at 2; a bf16 one the same both ways.
    granite = rows["ibm-granite/granite-3.1-8b-instruct"]
    assert granite["dtype"] == "float32" and granite["checkpoint_bytes"] == 2 * granite["weight_bytes"]
    assert llama["checkpoint_bytes"] == llama["weight_bytes"]


def test_quantized_variants_point_both_ways(workdir):
    rows = {r["model_id"]: r for r in models_json()}
    for model_id, row in rows.items():
        for variant in row["quantized_variants"]:
            assert rows[variant]["variant_of"] == model_id
            assert rows[variant]["weight_bytes"] < row["weight_bytes"]
    assert rows["meta-llama/Llama-3.1-70B-Instruct"]["quantized_variants"] == ["nvidia/Llama-3.1-70B-Instruct-FP8"]


def test_pattern_is_a_substring_or_a_glob(workdir):
    assert [r["model_id"] for r in models_json("gpt-OSS")] == ["openai/gpt-oss-120b", "openai/gpt-oss-20b"]
    fp8 = [r["model_id"] for r in models_json("qwen/*-fp8")]
    assert fp8 and all(m.startswith("Qwen/") and m.endswith("-FP8") for m in fp8)
    assert models_json("no-such-model-anywhere") == []


def test_text_table(workdir):
    result = invoke("models", "Llama-3.1-70B")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["MODEL", "FAMILY", "PARAMS", "GiB", "DTYPE", "CONTEXT", "GATED", "NOTES"]
    row = next(line for line in lines if line.startswith("meta-llama/Llama-3.1-70B-Instruct "))
    assert row.split()[1:7] == ["llama", "70.55B", "131.4", "bfloat16", "128k", "yes"]
    assert "quantized: nvidia/Llama-3.1-70B-Instruct-FP8" in row
    missing = invoke("models", "no-such-model-anywhere")
    assert missing.exit_code == 1 and "no catalog model matches" in missing.stderr


def test_an_architecture_the_planner_cannot_count_is_said_so_not_guessed():
    llama = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
             "num_hidden_layers": 32, "num_attention_heads": 32, "intermediate_size": 11008, "vocab_size": 32000}
    assert modelling_gap(llama) is None
    assert "not a family" in modelling_gap({**llama, "model_type": "glm4_moe"})
    assert "linear-attention or Mamba" in modelling_gap({**llama, "model_type": "zamba2",
                                                          "hybrid_override_pattern": "M-M*"})
    # Gated delta-net hybrids are rows of the family table (issue 15): modelled.
    assert modelling_gap({**llama, "model_type": "qwen3_next", "full_attention_interval": 4}) is None
    assert "'hqq' has no byte formula" in modelling_gap({**llama, "quantization_config": {"quant_method": "hqq"}})
    assert modelling_gap({**llama, "quantization_config": {"quant_method": "awq", "bits": 4}}) is None
