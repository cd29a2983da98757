"""`vllm-compile inspect MODEL`: JSON keys of the issue, sane for every bundled config."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from vllm_compile.cli import cli

CATALOG = Path(__file__).resolve().parents[2] / "vllm_compile" / "data" / "model-configs"
IDS = sorted(str(p.parent.relative_to(CATALOG)) for p in CATALOG.glob("*/*/config.json"))
KEYS = {"model_type", "parameters", "weight_bytes", "layers", "attention_heads", "kv_heads", "head_dim",
        "kv_bytes_per_token", "max_position_embeddings", "quantization", "experts", "attention_kinds"}


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))


def inspect(*args):
    return CliRunner().invoke(cli, ["inspect", *args])


@pytest.mark.parametrize("model_id", IDS)
def test_json_report_for_every_bundled_config(model_id):
    result = inspect(model_id, "--format", "json")
    assert result.exit_code == 0, result.output
    r = json.loads(result.stdout)
    assert KEYS <= set(r)
    assert isinstance(r["parameters"], int) and isinstance(r["weight_bytes"], int)
    assert r["parameters"] > 10**8 and r["weight_bytes"] > 10**8
    assert sum(r["attention_kinds"].values()) == r["layers"]
    assert r["attention_heads"] % r["kv_heads"] == 0 or r["kv_heads"] == 1
    assert 0 < r["kv_bytes_per_token"] <= r["layers"] * 2 * r["kv_heads"] * r["head_dim"] * 2
    config = json.loads((CATALOG / model_id / "config.json").read_text())
    text = config.get("text_config") or config.get("llm_config") or config
    routed = any(text.get(k) for k in ("num_local_experts", "num_experts", "n_routed_experts"))
    assert (r["experts"] is not None) == routed


def test_json_figures_for_known_models():
    r = json.loads(inspect("meta-llama/Llama-3.1-8B-Instruct", "--format", "json").stdout)
    assert (r["parameters"], r["layers"], r["kv_heads"], r["head_dim"]) == (8_030_261_248, 32, 8, 128)
    assert r["kv_bytes_per_token"] == 131_072 and r["weight_bytes"] == 2 * 8_030_261_248
    assert r["quantization"] is None and r["experts"] is None and r["attention_kinds"] == {"full": 32}
    ds = json.loads(inspect("deepseek-ai/DeepSeek-R1", "--format", "json").stdout)
    assert ds["kv_bytes_per_token"] == 70_272 and ds["head_dim"] == 576 and ds["kv_heads"] == 1
    assert ds["experts"]["num_experts"] == 256 and ds["quantization"]["method"] == "fp8"
    oss = json.loads(inspect("openai/gpt-oss-20b", "--format", "json").stdout)
    assert oss["attention_kinds"] == {"full": 12, "sliding": 12} and oss["kv_bytes_per_token"] == 49_152


def test_text_format_is_an_aligned_listing():
    result = inspect("Qwen/Qwen3-8B")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("model") and "Qwen/Qwen3-8B" in lines[0]
    value_columns = {len(line) - len(line.split("  ", 1)[1].lstrip()) for line in lines if "  " in line}
    assert len(value_columns) == 1
    assert any(line.startswith("parameters") and "8,190,735,360" in line for line in lines)


def test_local_folder(tmp_path):
    src = CATALOG / "Qwen" / "Qwen3-0.6B" / "config.json"
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_bytes(src.read_bytes())
    r = json.loads(inspect(str(tmp_path / "m"), "--format", "json").stdout)
    assert r["layers"] == 28 and r["source"].startswith("path:")


def test_unknown_and_malformed_models_exit_2():
    unknown = inspect("nobody/nothing")
    assert unknown.exit_code == 2 and "nobody/nothing" in unknown.stderr and "Traceback" not in unknown.output
    bad = inspect("not a repo id")
    assert bad.exit_code == 2 and "repo id" in bad.stderr


def test_quantization_option_applies_online_method():
    r = json.loads(inspect("meta-llama/Llama-3.1-8B-Instruct", "--quantization", "fp8", "--format", "json").stdout)
    assert r["quantization"]["method"] == "fp8" and r["quantization"]["prequantized"] is False
    assert r["weight_bytes"] < 10 * 2**30


def test_a_mamba_hybrid_reports_its_state_per_sequence():
    # Nemotron-3-Nano: 23 Mamba2 layers, each conv 3 x 6144 elements (bf16) + SSM 64 x 64 x 128 (fp32).
    result = CliRunner().invoke(cli, ["inspect", "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "--format", "json"])
    assert result.exit_code == 0, result.output
    state = json.loads(result.stdout)["recurrent_state"]
    assert state == {"layers": {"mamba2": 23}, "conv_state_elements": 18432, "ssm_state_elements": 524288,
                     "ssm_state_dtype": "float32", "bytes_per_sequence": 23 * (18432 * 2 + 524288 * 4)}
    text = CliRunner().invoke(cli, ["inspect", "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"]).stdout
    assert "recurrent_state" in text and "23 mamba2 layers" in text
    plain = CliRunner().invoke(cli, ["inspect", "Qwen/Qwen3-8B", "--format", "json"])
    assert json.loads(plain.stdout)["recurrent_state"] is None


def test_the_sparse_attention_indexer_is_reported_only_where_there_is_one():
    v32 = json.loads(inspect("deepseek-ai/DeepSeek-V3.2", "--format", "json").stdout)
    assert (v32["mla"]["index_topk"], v32["mla"]["index_n_heads"], v32["mla"]["index_head_dim"]) == (2048, 64, 128)
    # 16-bit latent (576 x 2) + the indexer's 132 B of fp8 keys per token and layer
    assert v32["kv_bytes_per_token"] == 61 * (576 * 2 + 132)
    v3 = json.loads(inspect("deepseek-ai/DeepSeek-V3", "--format", "json").stdout)
    assert "index_topk" not in v3["mla"] and v3["kv_bytes_per_token"] == 61 * 576 * 2
    assert "indexer of 64 heads x 128 picks the top 2048 tokens" in inspect("deepseek-ai/DeepSeek-V3.2").stdout
