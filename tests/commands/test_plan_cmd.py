"""`vllm-compile plan SPEC [--format text|json]`, and its agreement with `predict`.

Expected figures come from the model configs and the reference
(/work/shared/reference/vllm-memory-and-cli.md): Llama-3.1-8B stores 32 layers x 8 KV heads x 128
x 2 (K and V) x 2 bytes = 131,072 B per token (§2.11); H100-80GB reports 79.11-79.19 GiB (§6);
from v0.21 the default gpu_memory_utilization is 0.92 and the CUDA-graph estimate is taken out
of the budget before the KV cache is sized (§1.2-1.3); requested = ceil(total x util); the
default block size on CUDA is 16; capacity counts whole blocks (§1.5-1.6).
"""
from __future__ import annotations

import json
import re
import math
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from vllm_compile.cli import cli

SPECS = Path(__file__).resolve().parents[2] / "specs"
GIB = 1 << 30

# The object issue 4 fixes for `plan --format json` and `predict --format json`.
ISSUE4_KEYS = {"vllm_version", "tensor_parallel_size", "pipeline_parallel_size", "max_model_len",
               "gpu_memory_utilization", "block_size", "per_gpu", "kv_cache_tokens", "max_concurrency",
               "verdict", "reasons", "fixes"}
PER_GPU_KEYS = {"total_bytes", "requested_bytes", "weights_bytes", "activation_bytes", "non_torch_bytes",
                "cuda_graph_bytes", "kv_cache_bytes", "kv_cache_short_bytes", "kv_bytes_per_token"}
VERDICTS = {"ok", "weights_do_not_fit", "no_kv_memory", "kv_too_small", "invalid", "goal_not_met"}
FIX_KEYS = {"set", "summary", "verdict", "max_concurrency"}

BIG = """\
version: 1
name: big
model:
  id: meta-llama/Llama-3.1-70B-Instruct
hardware:
  gpu: L4
engine:
  version: "0.33.0"
"""

# Qwen3-8B (config: 36 layers, 8 KV heads, head_dim 128) at its full 40,960 tokens on one L4,
# with a 16-bit KV cache pinned so the planner cannot rescue it with fp8.
QWEN_L4 = """\
version: 1
name: qwen8
model:
  id: Qwen/Qwen3-8B
hardware:
  gpu: L4
workload:
  max_model_len: 40960
engine:
  version: "0.33.0"
  kv_cache_dtype: bfloat16
"""


@pytest.fixture
def ws(workdir):
    shutil.copy(SPECS / "llama.yaml", workdir / "llama.yaml")
    (workdir / "big.yaml").write_text(BIG)
    (workdir / "qwen8.yaml").write_text(QWEN_L4)
    return workdir


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def plan_json(spec: str) -> tuple[int, dict]:
    result = invoke("plan", spec, "--format", "json")
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def test_json_has_the_issue_4_object(ws):
    code, data = plan_json("llama.yaml")
    assert code == 0
    assert ISSUE4_KEYS <= set(data), ISSUE4_KEYS - set(data)
    assert set(data["per_gpu"]) == PER_GPU_KEYS
    assert all(isinstance(data["per_gpu"][k], int) for k in PER_GPU_KEYS)
    assert isinstance(data["max_concurrency"], float) and isinstance(data["gpu_memory_utilization"], float)
    assert isinstance(data["reasons"], list) and isinstance(data["fixes"], list)
    assert data["verdict"] in VERDICTS


def test_json_values_for_llama_8b_on_h100(ws):
    _, data = plan_json("llama.yaml")
    led = data["per_gpu"]
    assert (data["vllm_version"], data["tensor_parallel_size"], data["pipeline_parallel_size"]) == ("0.33.0", 1, 1)
    assert (data["max_model_len"], data["gpu_memory_utilization"], data["block_size"]) == (32768, 0.92, 16)
    assert (data["verdict"], data["reasons"], data["fixes"]) == ("ok", [], [])
    assert led["kv_bytes_per_token"] == 32 * 8 * 128 * 2 * 2 == 131_072
    assert 79.11 <= led["total_bytes"] / GIB <= 79.19
    assert led["requested_bytes"] == math.ceil(led["total_bytes"] * 0.92)
    # 8,030,261,248 parameters (the model card's count) in bf16, plus at most 1 % of load-time buffers.
    assert 8_030_261_248 * 2 <= led["weights_bytes"] <= 8_030_261_248 * 2 * 1.01
    # v0.21+ accounting: everything else comes out of the requested budget before the KV cache.
    assert led["kv_cache_bytes"] == (led["requested_bytes"] - led["weights_bytes"] - led["activation_bytes"]
                                     - led["non_torch_bytes"] - led["cuda_graph_bytes"])
    blocks = led["kv_cache_bytes"] // (16 * led["kv_bytes_per_token"])
    assert data["kv_cache_tokens"] == blocks * 16
    assert data["max_concurrency"] == pytest.approx(blocks / (32768 // 16), abs=0.005)


def test_text_ledger(ws):
    result = invoke("plan", "llama.yaml")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("llama-chat: vLLM 0.33.0")
    for label in ("total memory", "requested (0.92)", "weights", "activation peak", "non-torch", "CUDA graphs",
                  "KV cache", "GPU KV cache size", "max concurrency"):
        assert label in text, label
    assert "131,072" in text
    assert text.splitlines()[-1].split() == ["verdict", "ok"]


def test_text_and_json_agree(ws):
    _, data = plan_json("llama.yaml")
    text = invoke("plan", "llama.yaml").stdout
    assert f"{data['kv_cache_tokens']:,} tokens" in text
    assert f"{data['per_gpu']['weights_bytes'] / GIB:.2f} GiB" in text


def test_weights_do_not_fit_exits_1(ws):
    code, data = plan_json("big.yaml")
    assert code == 1
    assert data["verdict"] == "weights_do_not_fit"
    assert data["per_gpu"]["weights_bytes"] > data["per_gpu"]["total_bytes"]
    assert data["reasons"] and any("engine.tensor_parallel_size" in f["set"] for f in data["fixes"])
    assert all(set(f) == FIX_KEYS and f["verdict"] == "ok" for f in data["fixes"])
    text = invoke("plan", "big.yaml")
    assert text.exit_code == 1 and "verdict               weights_do_not_fit" in text.stdout
    # The KV cache row shows the deficit, never a negative amount (issue 10 item 3).
    assert data["per_gpu"]["kv_cache_bytes"] == 0 and data["per_gpu"]["kv_cache_short_bytes"] > 0
    short = data["per_gpu"]["kv_cache_short_bytes"] / GIB
    assert f"KV cache                  none: short by {short:.2f} GiB" in text.stdout
    assert not re.search(r"-\d+\.\d+ GiB", text.stdout)


def test_kv_too_small_exits_1_with_the_longest_length_that_fits(ws):
    code, data = plan_json("qwen8.yaml")
    assert code == 1
    led = data["per_gpu"]
    assert led["kv_bytes_per_token"] == 36 * 8 * 128 * 2 * 2 == 147_456
    assert data["verdict"] == "kv_too_small"
    assert data["reasons"][0].startswith("To serve at least one request with the model's max seq len (40960)")
    longest = led["kv_cache_bytes"] // led["kv_bytes_per_token"] // 16 * 16
    assert longest < 40960
    assert {"workload.max_model_len": longest} in [f["set"] for f in data["fixes"]]


def test_exit_code_matches_the_verdict_when_the_concurrency_goal_is_missed(ws):
    # 100 requests of 32,768 tokens need 100 x 2,048 blocks; one H100 holds about 27,000. vLLM would
    # still start, so the plan's verdict is "ok" -- and issue 4 says exit 0 exactly when it is.
    spec = (ws / "llama.yaml").read_text().replace("concurrency: 8", "concurrency: 100")
    (ws / "many.yaml").write_text(spec)
    code, data = plan_json("many.yaml")
    assert data["fixes"], "a missed goal must come with fixes"
    assert code == (0 if data["verdict"] == "ok" else 1), (code, data["verdict"])


@pytest.mark.parametrize("args", [["plan", "nope.yaml"], ["plan", "llama.yaml", "--format", "yaml"]])
def test_bad_input_exits_2(ws, args):
    result = invoke(*args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_bad_spec_exits_2_with_position(ws):
    (ws / "bad.yaml").write_text(BIG.replace("gpu: L4", "gpu: L44"))
    result = invoke("plan", "bad.yaml", "--format", "json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("bad.yaml:6:3: error[VC310]: hardware.gpu: unknown GPU")


# --- plan == predict for the same knobs --------------------------------------------------------

EQUIVALENT = {
    # spec -> the `vllm serve` command line with the knobs the plan shows, and predict's --gpu
    "llama.yaml": ("H100-80GB", ["vllm", "serve", "meta-llama/Llama-3.1-8B-Instruct", "--max-model-len", "32768",
                                 "--tensor-parallel-size", "1", "--gpu-memory-utilization", "0.92",
                                 "--max-num-seqs", "1024", "--max-num-batched-tokens", "8192"]),
    "qwen8.yaml": ("L4", ["vllm", "serve", "Qwen/Qwen3-8B", "--max-model-len", "40960",
                          "--kv-cache-dtype", "bfloat16"]),
}


@pytest.mark.parametrize("spec", sorted(EQUIVALENT))
def test_plan_json_equals_predict_json(ws, spec):
    plan_code, plan = plan_json(spec)
    gpu, argv = EQUIVALENT[spec]
    result = invoke("predict", "--gpu", gpu, "--format", "json", "--", *argv)
    assert result.exit_code == plan_code, result.output
    predict = json.loads(result.stdout)
    # The knob reasons differ by nature (a spec key vs a flag), and so do the goal (workload.concurrency
    # vs none) and the fixes (a spec can add GPUs with hardware.count); the rest is the same prediction.
    for key in ("choices", "concurrency_goal", "fixes"):
        plan.pop(key, None)
        predict.pop(key, None)
    assert plan == predict
