"""`vllm-compile predict [...] -- vllm serve MODEL [FLAGS...]`.

Figures derive from configs and the reference (/work/shared/reference/vllm-memory-and-cli.md):
Qwen3-8B's config has 36 layers, 8 KV heads, head_dim 128 -> 36 x 8 x 128 x 2 x 2 = 147,456 B of
bf16 KV per token; an L4 reports 22.04 GiB (§6); vLLM refuses a max_model_len whose single request
does not fit and names the longest that would, counted in whole 16-token blocks (§1.7-1.8).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from vllm_compile.cli import cli

CONFIGS = Path(__file__).resolve().parents[2] / "vllm_compile" / "data" / "model-configs"
GIB = 1 << 30
QWEN_KV_PER_TOKEN = 36 * 8 * 128 * 2 * 2


@pytest.fixture(autouse=True)
def ws(workdir, monkeypatch):
    monkeypatch.delenv("VLLM_ALLOW_LONG_MAX_MODEL_LEN", raising=False)
    return workdir


def predict(*args, serve=()):
    argv = ["predict", *args]
    if serve:
        argv += ["--", "vllm", "serve", *serve]
    return CliRunner().invoke(cli, argv)


def as_json(result) -> dict:
    return json.loads(result.stdout)


def test_fitting_command_exits_0():
    result = predict("--gpu", "L4", serve=["Qwen/Qwen3-8B", "--max-model-len", "4096"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Qwen/Qwen3-8B: vLLM 0.33.0")
    assert result.stdout.splitlines()[-1].split() == ["verdict", "ok"]


def test_failing_command_exits_1_with_vllms_reason_and_fixes():
    result = predict("--gpu", "L4", "--format", "json", serve=["Qwen/Qwen3-8B", "--max-model-len", "40960"])
    assert result.exit_code == 1, result.output
    data = as_json(result)
    led = data["per_gpu"]
    assert data["verdict"] == "kv_too_small"
    assert led["kv_bytes_per_token"] == QWEN_KV_PER_TOKEN
    assert round(led["total_bytes"] / GIB, 2) == 22.04
    assert data["kv_cache_tokens"] < 40960 <= data["max_model_len"]
    assert data["max_concurrency"] < 1
    assert data["reasons"][0].startswith("To serve at least one request with the model's max seq len (40960)")
    longest = led["kv_cache_bytes"] // QWEN_KV_PER_TOKEN // 16 * 16
    assert {"set": {"workload.max_model_len": longest}, "summary": "the longest context one request can have in this "
            "KV cache", "verdict": "ok", "max_concurrency": 1.0} in data["fixes"]
    assert f"estimated maximum model length is {longest}" in data["reasons"][0]
    text = predict("--gpu", "L4", serve=["Qwen/Qwen3-8B", "--max-model-len", "40960"])
    assert text.exit_code == 1
    assert "verdict               kv_too_small" in text.stdout and f": workload.max_model_len: {longest} (" in text.stdout


def test_fp8_kv_halves_the_bytes_per_token():
    result = predict("--gpu", "L4", "--format", "json",
                     serve=["Qwen/Qwen3-8B", "--max-model-len", "40960", "--kv-cache-dtype", "fp8"])
    assert as_json(result)["per_gpu"]["kv_bytes_per_token"] == QWEN_KV_PER_TOKEN // 2


def test_tp_and_pp_set_the_gpu_count_and_split_kv_heads():
    result = predict("--gpu", "L4", "--format", "json",
                     serve=["Qwen/Qwen3-8B", "--tensor-parallel-size", "2", "--max-model-len", "8192"])
    data = as_json(result)
    assert data["tensor_parallel_size"] == 2
    # 8 KV heads over 2 ranks: 4 per GPU.
    assert data["per_gpu"]["kv_bytes_per_token"] == 36 * 4 * 128 * 2 * 2


def test_flag_spellings_argparse_accepts():
    # `--max_model_len` and `--flag=value` mean the same to vLLM's parser.
    a = as_json(predict("--gpu", "L4", "--format", "json", serve=["Qwen/Qwen3-8B", "--max-model-len", "4096"]))
    b = as_json(predict("--gpu", "L4", "--format", "json", serve=["Qwen/Qwen3-8B", "--max_model_len=4096"]))
    assert a == b and a["max_model_len"] == 4096


def test_gpu_memory_override():
    result = predict("--gpu", "L4", "--gpu-memory-gib", "20", "--format", "json",
                     serve=["Qwen/Qwen3-8B", "--max-model-len", "4096"])
    assert as_json(result)["per_gpu"]["total_bytes"] == 20 * GIB


def test_local_model_directory_predicts_like_the_catalog(ws):
    folder = ws / "qwen3-8b"
    folder.mkdir()
    shutil.copy(CONFIGS / "Qwen" / "Qwen3-8B" / "config.json", folder / "config.json")
    local = as_json(predict("--gpu", "L4", "--format", "json", serve=["./qwen3-8b", "--max-model-len", "4096"]))
    known = as_json(predict("--gpu", "L4", "--format", "json", serve=["Qwen/Qwen3-8B", "--max-model-len", "4096"]))
    assert local["per_gpu"] == known["per_gpu"]


def test_unknown_flag_for_the_release_exits_2():
    result = predict("--gpu", "L4", serve=["Qwen/Qwen3-8B", "--no-such-flag", "3"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "<command line>" in result.stderr and "--no-such-flag" in result.stderr and "fix: " in result.stderr
    assert "Traceback" not in result.output


def test_flag_of_a_later_release_exits_2_on_an_old_one():
    # --async-scheduling exists in the 0.33.0 manifest but not in 0.6.6.post1's.
    new = predict("--gpu", "L4", serve=["Qwen/Qwen3-8B", "--max-model-len", "4096", "--async-scheduling"])
    old = predict("--gpu", "L4", "--vllm-version", "0.6.6.post1",
                  serve=["Qwen/Qwen3-8B", "--max-model-len", "4096", "--async-scheduling"])
    assert new.exit_code == 0, new.output
    assert old.exit_code == 2
    assert "vLLM 0.6.6.post1 has no flag --async-scheduling" in old.stderr


def test_release_without_manifest_warns_about_the_nearest():
    # The vendored manifests end at 0.33.0: a newer release is checked against it, with a warning.
    result = predict("--gpu", "L4", "--vllm-version", "0.34.0", serve=["Qwen/Qwen3-8B", "--max-model-len", "4096"])
    assert result.exit_code == 0, result.output
    assert "<command line>: warning[VC520]: no flag manifest for vLLM 0.34.0" in result.stderr
    assert "0.33.0" in result.stderr
    assert "warning" not in result.stdout


def test_every_vendored_release_is_checked_against_its_own_flags():
    # 0.19.0 and 0.8.4 have manifests of their own now: no warning, and 0.8.4 accepts the
    # --speculative-config it introduced (refused before, checked against 0.7.3).
    quiet = predict("--gpu", "L4", "--vllm-version", "0.19.0", serve=["Qwen/Qwen3-8B", "--max-model-len", "4096"])
    assert quiet.exit_code == 0 and "warning" not in quiet.stderr, quiet.output
    spec = predict("--gpu", "H100", "--vllm-version", "0.8.4",
                   serve=["Qwen/Qwen3-8B", "--max-model-len", "4096", "--speculative-config",
                          '{"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_max": 4}'])
    assert spec.exit_code in (0, 1) and "has no flag" not in spec.stderr, spec.output
    later = predict("--gpu", "H100", "--vllm-version", "0.8.4",
                    serve=["Qwen/Qwen3-8B", "--max-model-len", "4096", "--async-scheduling"])
    assert later.exit_code == 2 and "vLLM 0.8.4 has no flag --async-scheduling" in later.stderr


@pytest.mark.parametrize("args, serve, fragment", [
    (["--gpu", "L44"], ["Qwen/Qwen3-8B"], "unknown GPU 'L44'"),
    (["--gpu", "L4"], [], "no vLLM command line given"),
    (["--gpu", "L4"], ["acme/NoSuchModel-7B"], "acme/NoSuchModel-7B"),
    (["--gpu", "L4"], ["Qwen/Qwen3-8B", "--max-model-len"], "--max-model-len"),
])
def test_bad_input_exits_2(args, serve, fragment):
    result = predict(*args, serve=serve)
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("value", ["auto", "-1"])
def test_auto_fit_max_model_len_starts_at_the_largest_length_that_fits(value):
    fixed = as_json(predict("--gpu", "L4", "--vllm-version", "0.15.1", "--format", "json",
                            serve=["Qwen/Qwen3-8B", "--max-model-len", "40960"]))
    longest = next(f["set"]["workload.max_model_len"] for f in fixed["fixes"] if list(f["set"]) == ["workload.max_model_len"])
    result = predict("--gpu", "L4", "--vllm-version", "0.15.1", "--format", "json",
                     serve=["Qwen/Qwen3-8B", "--max-model-len", value])
    assert result.exit_code == 0, result.output
    data = as_json(result)
    assert (data["verdict"], data["max_model_len"]) == ("ok", longest)
    assert data["warnings"][0].startswith(f"Auto-fit max_model_len: reduced from 40960 to {longest} ")
    # Enough memory for the whole context: auto-fit keeps the model's maximum.
    roomy = as_json(predict("--gpu", "H100", "--vllm-version", "0.15.1", "--format", "json",
                            serve=["Qwen/Qwen3-8B", "--max-model-len", value]))
    assert (roomy["verdict"], roomy["max_model_len"], roomy["warnings"]) == ("ok", 40960, [])


def test_auto_fit_is_refused_by_releases_before_it_and_cannot_create_memory():
    old = predict("--gpu", "L4", "--vllm-version", "0.13.0", serve=["Qwen/Qwen3-8B", "--max-model-len", "auto"])
    assert old.exit_code == 2 and "invalid value 'auto' for --max-model-len" in old.stderr
    none = predict("--gpu", "L4", "--vllm-version", "0.15.1", "--format", "json",
                   serve=["Qwen/Qwen3-8B", "--max-model-len", "auto", "--gpu-memory-utilization", "0.6"])
    assert none.exit_code == 1
    data = as_json(none)
    assert data["verdict"] == "no_kv_memory"
    assert data["reasons"][0] == ("Cannot auto-fit max_model_len: not enough GPU memory available to serve even a "
                                  "single token. Try increasing `gpu_memory_utilization`.")


def test_cpu_offload_takes_that_many_weight_bytes_off_each_gpu():
    def weights(*flags):
        result = predict("--gpu", "L4", "--vllm-version", "0.10.1", "--format", "json",
                         serve=["Qwen/Qwen3-14B", "--max-model-len", "8192", *flags])
        return result.exit_code, as_json(result)

    code, full = weights()
    assert (code, full["verdict"]) == (1, "weights_do_not_fit")
    code, offloaded = weights("--cpu-offload-gb", "10")
    assert (code, offloaded["verdict"]) == (0, "ok")
    assert full["per_gpu"]["weights_bytes"] - offloaded["per_gpu"]["weights_bytes"] == 10 * GIB


def test_lora_slots_add_their_adapter_buffers_to_the_weights():
    def weights(*flags):
        result = predict("--gpu", "L4", "--vllm-version", "0.10.1", "--format", "json",
                         serve=["meta-llama/Llama-3.1-8B-Instruct", "--max-model-len", "8192", *flags])
        return as_json(result)["per_gpu"]["weights_bytes"]

    base = weights()
    # Per layer and slot, rank x (A inputs + B outputs): qkv 3 x 4096 + (4096 + 2 x 1024), o 4096 + 4096,
    # gate/up 2 x 4096 + 2 x 14336, down 14336 + 4096 = 81,920; x 32 layers x rank 16 x 2 bytes.
    assert weights("--enable-lora") - base == 32 * 81_920 * 16 * 2 == 83_886_080
    assert weights("--enable-lora", "--max-loras", "4", "--max-lora-rank", "64") - base == 4 * 4 * 83_886_080
    assert weights("--no-enable-lora") == base


def test_data_parallel_replicas_count_gpus_and_share_experts_only_with_expert_parallelism():
    def run(*flags):
        result = predict("--gpu", "H200", "--vllm-version", "0.15.1", "--format", "json",
                         serve=["deepseek-ai/DeepSeek-R1", "--max-model-len", "32768", *flags])
        return as_json(result)

    tp8 = run("-tp", "8")
    ep = run("-dp", "8", "--enable-expert-parallel")
    replicas = run("-dp", "8")
    assert (tp8["data_parallel_size"], ep["data_parallel_size"]) == (1, 8)
    assert ep["verdict"] == "ok" and replicas["verdict"] == "weights_do_not_fit"
    # Each replica keeps the whole attention (MLA is not split) and 1/8 of the experts.
    assert tp8["per_gpu"]["weights_bytes"] < ep["per_gpu"]["weights_bytes"] < replicas["per_gpu"]["weights_bytes"] / 4
    assert ep["per_gpu"]["kv_bytes_per_token"] == tp8["per_gpu"]["kv_bytes_per_token"]


def test_deepseek_v32_on_a_release_before_its_support_is_refused_with_that_release_as_the_fix():
    serve = ["deepseek-ai/DeepSeek-V3.2", "-tp", "8", "--kv-cache-dtype", "fp8", "--max-model-len", "32768"]
    old = predict("--gpu", "H200", "--vllm-version", "0.10.2", "--format", "json", serve=serve)
    assert old.exit_code == 1, old.output
    data = as_json(old)
    assert data["verdict"] == "invalid" and data["failure_key"] == "engine.version"
    assert {"engine.version": "0.11.0"} in [f["set"] for f in data["fixes"]]
    new = predict("--gpu", "H200", "--format", "json", serve=serve)
    assert new.exit_code == 0, new.output
    # fp8 is stored packed: 61 layers x (656 B latent + 132 B of indexer keys), in 64-token blocks.
    assert as_json(new)["kv_cache_format"] == "fp8_ds_mla" and as_json(new)["block_size"] == 64
    assert as_json(new)["per_gpu"]["kv_bytes_per_token"] == 61 * (656 + 132)
    assert "kv_cache_dtype        fp8 (fp8_ds_mla)" in predict("--gpu", "H200", serve=serve).stdout
