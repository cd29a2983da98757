"""Fuzzing `predict` with random `vllm serve` command lines built from the vendored flag history.

Each example picks a vendored release, a model (a catalog one, or garbage), a GPU, and a handful
of that release's own flags with values that are typed (in and out of range), taken from the
flag's choices, or garbage. Oracle (issue 11): the exit code is 0, 1 or 2; no traceback and no
internal error; exit 2 comes with a `<command line>` location.

`make test` runs a bounded, derandomized count (VLLM_COMPILE_FUZZ_PREDICT, default 200);
`make fuzz` runs 10,000.
"""
from __future__ import annotations

import os

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vllm_compile.cli import cli
from vllm_compile.flags import release_manifest, versions

EXAMPLES = int(os.environ.get("VLLM_COMPILE_FUZZ_PREDICT", "200"))
MODELS = ["Qwen/Qwen3-8B", "Qwen/Qwen3-0.6B", "meta-llama/Llama-3.1-8B-Instruct", "deepseek-ai/DeepSeek-R1",
          "Qwen/Qwen3-30B-A3B-FP8", "mistralai/Mistral-7B-Instruct-v0.3", "acme/NoSuchModel-7B", "9",
          "../../etc/passwd", "", "-", "a/b/c", "Qwen/Qwen3-8B:rev", "\x00", "é/ü"]
GPUS = ["H100-80GB", "H100", "L4", "A100-40GB", "A100-80GB", "V100", "MI300X", "T4", "RTX4090", "nope", ""]
GARBAGE = st.sampled_from(["", "nan", "inf", "-inf", "1e400", "-1", "0", "-0", "0x10", "1_000", "1.5", "abc",
                           "None", "null", "true", "{", "{}", "[]", '{"a": 1}', "auto", "8k", "8K", "1G", "-1G",
                           "99999999999999999999999", "--", "-", "=", "\u0085", " ", "é"])
NUMBERS = st.one_of(st.integers(-5, 70000).map(str), st.integers(-(1 << 70), 1 << 70).map(str),
                    st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.floats(0, 1.2).map(lambda f: f"{f:.3f}"))
RELEASES = versions()
REAL_MODELS = MODELS[:6]
# The knobs the planner reads: drawn often, mostly with values vLLM accepts, so that examples reach
# the planner (exit 0 or 1) and not only the input checks.
PLANNER_FLAGS = {
    "--tensor-parallel-size": st.sampled_from(["1", "2", "4", "8", "3", "0", "-1", "16"]),
    "-tp": st.sampled_from(["1", "2", "4", "8"]),
    "--pipeline-parallel-size": st.sampled_from(["1", "2", "4", "1000", "0", "-1"]),
    "-pp": st.sampled_from(["1", "2", "3"]),
    "--data-parallel-size": st.sampled_from(["1", "2", "-1"]),
    "--max-model-len": st.sampled_from(["1", "512", "4096", "32768", "131072", "1000000", "auto", "-1", "32k", "0"]),
    "--gpu-memory-utilization": st.sampled_from(["0.5", "0.9", "0.95", "1", "0.01", "0", "1.5", "nan"]),
    "--max-num-seqs": st.sampled_from(["1", "8", "256", "1024", "0"]),
    "--max-num-batched-tokens": st.sampled_from(["1", "512", "8192", "65536", "0"]),
    "--block-size": st.sampled_from(["8", "16", "32", "64", "1", "0", "7"]),
    "--kv-cache-dtype": st.sampled_from(["auto", "fp8", "fp8_e4m3", "fp8_e5m2", "bfloat16", "fp8_ds_mla", "x"]),
    "--dtype": st.sampled_from(["auto", "half", "float16", "bfloat16", "float32", "x"]),
    "--quantization": st.sampled_from(["fp8", "awq", "gptq", "bitsandbytes", "x"]),
    "--cpu-offload-gb": st.sampled_from(["0", "4", "100", "-1", "inf"]),
    "--kv-cache-memory-bytes": st.sampled_from(["1G", "8G", "100G", "0", "-1"]),
    "--max-loras": st.sampled_from(["1", "4", "0"]),
    "--max-lora-rank": st.sampled_from(["8", "16", "64", "inf", "0"]),
}
PLANNER_SWITCHES = ["--enforce-eager", "--enable-lora", "--enable-expert-parallel", "--disable-hybrid-kv-cache-manager",
                    "--trust-remote-code", "--enable-prefix-caching"]


def _flag_tokens(name: str, entry: dict) -> st.SearchStrategy[list[str]]:
    kind = entry.get("type") or ""
    choices = entry.get("choices")
    if entry.get("nargs") == 0:
        return st.sampled_from([[name], [name, "x"], [f"{name}=1"]])
    values: list[st.SearchStrategy[str]] = [GARBAGE]
    if choices:
        values.append(st.sampled_from([str(c) for c in choices]))
    if "int" in kind or "float" in kind:
        values.append(NUMBERS)
    value = st.one_of(*values)
    return st.one_of(value.map(lambda v: [name, v]), value.map(lambda v: [f"{name}={v}"]), st.just([name]))


@st.composite
def command_lines(draw) -> list[str]:
    release = draw(st.sampled_from(RELEASES))
    flags = release_manifest(release)["flags"]
    names = sorted(flags)
    odds = draw(st.integers(0, 19))
    version = release if odds > 2 else draw(st.sampled_from(RELEASES)) if odds > 0 else draw(GARBAGE)
    argv = ["--vllm-version", version]
    if draw(st.booleans()):
        argv += ["--gpu", draw(st.sampled_from(GPUS[:6]) if draw(st.integers(0, 9)) else st.sampled_from(GPUS))]
    if draw(st.integers(0, 9)) == 0:
        argv += ["--gpu-memory-gib", draw(st.one_of(GARBAGE, NUMBERS))]
    argv += ["--", "vllm", "serve"]
    if draw(st.integers(0, 19)):
        argv.append(draw(st.sampled_from(REAL_MODELS) if draw(st.integers(0, 9)) else st.sampled_from(MODELS)))
    planner = [name for name in PLANNER_FLAGS if name in flags]
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(planner))
        argv += [name, draw(PLANNER_FLAGS[name])]
    if draw(st.integers(0, 3)) == 0:
        switch = draw(st.sampled_from(PLANNER_SWITCHES))
        if switch in flags:
            argv.append(switch)
    for _ in range(draw(st.integers(0, 6)) if draw(st.integers(0, 2)) == 0 else 0):
        name = draw(st.sampled_from(names))
        argv += draw(_flag_tokens(name, flags[name]))
    if draw(st.integers(0, 19)) == 0:
        argv.append(draw(GARBAGE))
    return argv


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(argv=command_lines())
def test_predict_never_crashes(argv, tmp_path_factory):
    result = CliRunner().invoke(cli, ["predict", *argv])
    text = result.output
    assert result.exit_code in (0, 1, 2), (argv, result.exit_code, text)
    assert result.exception is None or isinstance(result.exception, SystemExit), (argv, repr(result.exception))
    assert "Traceback" not in text and "internal error" not in text, (argv, text)
    if result.exit_code == 2:
        assert "<command line>" in result.stderr, (argv, result.stderr)
