"""The manifest-backed `vllm serve` argv checker. Expected outcomes follow the manifests'
README (argparse semantics of each release) and the flag history it documents."""
from __future__ import annotations

import pytest

from vllm_compile import flags
from vllm_compile.engine_args import parse_serve_args
from vllm_compile.flags import load_manifest, parse_args, validate_args
from vllm_compile.versions import release_key

def errors(argv, version):
    return [p for p in validate_args(argv, load_manifest(version)) if p.severity == "error"]


def values(argv, version):
    result = parse_args(argv, load_manifest(version))
    assert not result.problems, result.problems
    return {arg.dest: arg.value for arg in result.args}


def test_version_order():
    assert release_key("0.8.5") < release_key("0.8.5.post1") < release_key("0.8.5.1")
    assert release_key("0.9.2") < release_key("0.10.1.1") < release_key("0.33.0")
    bundled = flags.versions()
    assert bundled[0] == "0.6.6.post1" and bundled[-1] == "0.33.0"
    assert list(bundled) == sorted(bundled, key=release_key)
    assert len(bundled) >= 48


def test_every_vendored_manifest_describes_its_release():
    for version in flags.versions():
        raw = flags.release_manifest(version)
        assert raw["vllm_version"] == version and "model_tag" in raw["positionals"]


def test_history_rebuilds_a_release_from_its_ranges():
    # 0.8.4 lies inside a range of --block-size's first variant and is the first with
    # --speculative-config: both must come back exactly as that release's parser had them.
    raw = flags.release_manifest("0.8.4")
    assert raw["flags"]["--speculative-config"]["type"] == "loads"
    assert "--speculative-model" not in raw["flags"]
    assert "--speculative-model" in flags.release_manifest("0.7.3")["flags"]
    assert raw["flags"]["--block-size"]["choices"] != flags.release_manifest("0.8.5")["flags"]["--block-size"]["choices"]
    # Flags are the release's own, not the union over releases.
    assert set(raw["flags"]) != set(flags.release_manifest("0.33.0")["flags"])


@pytest.mark.parametrize("version", ["0.8.5.post1", "0.10.1.1", "0.18.1", "0.19.0", "0.8.4", "0.33.0"])
def test_exact_release_has_no_warning(version):
    manifest = load_manifest(version)
    assert manifest.version == version and manifest.warning is None


def test_speculative_config_accepted_on_0_8_4():
    assert values(["--speculative-config", '{"method": "ngram", "num_speculative_tokens": 3}'], "0.8.4") == {
        "speculative_config": {"method": "ngram", "num_speculative_tokens": 3}}
    # ... and refused on 0.7.3, the release before it, which had --speculative-model instead.
    [problem] = errors(["--speculative-config", "{}"], "0.7.3")
    assert "added" in problem.fix and "0.8.4" in problem.fix


def test_release_inside_the_range_without_manifest_uses_nearest_older_silently():
    manifest = load_manifest("0.8.0")
    assert manifest.version == "0.7.3" and manifest.requested == "0.8.0" and manifest.warning is None
    assert load_manifest("0.8.5.post2").version == "0.8.5.post1"


def test_release_newer_than_all_uses_newest_with_warning():
    manifest = load_manifest("0.34.0")
    assert manifest.version == "0.33.0"
    assert "0.34.0" in manifest.warning and "0.33.0" in manifest.warning and "older" in manifest.warning


def test_release_older_than_all_uses_oldest_with_warning():
    manifest = load_manifest("0.5.0")
    assert manifest.version == "0.6.6.post1"
    assert "0.5.0" in manifest.warning and "0.6.6.post1" in manifest.warning


def test_swap_space_exists_until_0_17_1_and_is_gone_in_0_18_1():
    assert values(["--swap-space", "4"], "0.15.1") == {"swap_space": 4.0}
    [problem] = errors(["--swap-space", "4"], "0.18.1")
    assert "--swap-space" in problem.message and "0.18.1" in problem.message
    assert "removed" in problem.fix and "0.17.1" in problem.fix and "0.18.0" in problem.fix


def test_disable_log_requests_refused_on_0_18_1():
    [problem] = errors(["--disable-log-requests"], "0.18.1")
    assert problem.found == "--disable-log-requests"
    assert "--enable-log-requests" in problem.fix


def test_flag_added_later_says_where_it_appears():
    # --kv-cache-memory-bytes came with 0.10.2 (the manifests' changelog: 0.10.1.1 -> 0.10.2).
    [problem] = errors(["--kv-cache-memory-bytes", "8G"], "0.10.1.1")
    assert "added" in problem.fix and "0.10.2" in problem.fix


def test_unknown_flag_gets_did_you_mean():
    [problem] = errors(["--max-model-length", "4096"], "0.33.0")
    assert "--max-model-len" in problem.fix
    assert problem.index == 0


def test_kv_cache_dtype_fp8_accepted_everywhere_it_is_listed():
    for version in ("0.10.1.1", "0.18.1", "0.33.0"):
        assert values(["--kv-cache-dtype", "fp8"], version) == {"kv_cache_dtype": "fp8"}


def test_kv_cache_dtype_checked_against_value_table_when_argparse_has_no_choices():
    # 0.33.0 dropped the argparse choices; vLLM checks the value at engine start.
    [problem] = errors(["--kv-cache-dtype", "fp9"], "0.33.0")
    assert "fp9" in problem.message and "fp8" in problem.fix
    # 0.18.1 still has argparse choices: refused by the choices check.
    [problem] = errors(["--kv-cache-dtype", "fp9"], "0.18.1")
    assert "invalid choice" in problem.message


def test_block_size_choices_until_0_18_1():
    [problem] = errors(["--block-size", "7"], "0.10.1.1")
    assert problem.found == "7" and "1, 8, 16, 32, 64, 128" in problem.expected
    assert values(["--block-size", "7"], "0.18.1") == {"block_size": 7}


def test_quantization_choices_and_value_table():
    assert values(["--quantization", "awq"], "0.8.5.post1") == {"quantization": "awq"}
    assert errors(["--quantization", "awqq"], "0.8.5.post1")[0].message.startswith("invalid choice awqq")
    [problem] = errors(["--quantization", "awqq"], "0.18.1")
    assert "awqq" in problem.message and "awq" in problem.fix
    assert values(["-q", "fp8"], "0.18.1") == {"quantization": "fp8"}


def test_none_is_null_only_where_the_manifest_lists_null():
    # README: 0.33.0 accepts `--dcp-comm-backend None` (null among choices) and 0.18.1 rejects
    # `--collect-detailed-traces None` (only the string "None" listed).
    assert values(["--dcp-comm-backend", "None"], "0.33.0") == {"dcp_comm_backend": None}
    [problem] = errors(["--collect-detailed-traces", "None"], "0.18.1")
    assert "invalid choice None" in problem.message and "null" in problem.fix


def test_underscores_and_equals_are_normalised():
    assert values(["--max_model_len=4096", "--gpu_memory_utilization", "0.85"], "0.18.1") == {
        "max_model_len": 4096, "gpu_memory_utilization": 0.85}
    # Only the flag name is normalised, not the value.
    assert values(["--served-model-name=my_model"], "0.18.1") == {"served_model_name": ["my_model"]}


def test_switches():
    assert values(["--enforce-eager"], "0.18.1") == {"enforce_eager": True}
    [problem] = errors(["--enforce-eager=true"], "0.18.1")
    assert "takes no value" in problem.message
    assert values(["--no-enable-prefix-caching"], "0.18.1") == {"enable_prefix_caching": False}
    # 0.33.0 added --enable-X twins of --disable-X flags: enabling clears the disable dest.
    assert values(["--enable-cascade-attn"], "0.33.0") == {"disable_cascade_attn": False}
    assert values(["-ep"], "0.33.0") == {"enable_expert_parallel": True}


def test_types():
    assert values(["--max-model-len", "32k"], "0.18.1") == {"max_model_len": 32000}
    assert values(["--max-model-len", "1K"], "0.18.1") == {"max_model_len": 1024}
    assert values(["--max-num-batched-tokens", "25.6k"], "0.33.0") == {"max_num_batched_tokens": 25600}
    assert values(["--max-model-len", "auto"], "0.33.0") == {"max_model_len": -1}
    assert errors(["--max-model-len", "1.5K"], "0.18.1")
    [problem] = errors(["--tensor-parallel-size", "two"], "0.18.1")
    assert problem.found == "two" and "integer" in problem.expected
    assert errors(["--gpu-memory-utilization", "ninety"], "0.18.1")
    assert values(["--speculative-config", '{"method": "ngram"}'], "0.18.1") == {
        "speculative_config": {"method": "ngram"}}
    assert errors(["--speculative-config", "{method"], "0.18.1")


def test_nargs():
    assert values(["--served-model-name", "a", "b"], "0.18.1") == {"served_model_name": ["a", "b"]}
    [problem] = errors(["--max-model-len"], "0.18.1")
    assert "expects a value" in problem.message
    # nargs "?" with a const: --hf-token alone means "use the cached token".
    assert values(["--hf-token"], "0.18.1") == {"hf_token": True}
    # A negative number is a value, not a flag.
    assert values(["--seed", "-1"], "0.18.1") == {"seed": -1}


def test_abbreviation_is_an_error_when_validating():
    [problem] = errors(["--max-model", "4096"], "0.18.1")
    assert "--max-model-len" in problem.fix


def test_dotted_json_arg():
    # vLLM folds the key into the flag's object (the value read as JSON from 0.9.2).
    assert values(["--compilation-config.level", "3"], "0.33.0") == {"compilation_config": {"level": 3}}


def test_parse_serve_args_reads_a_real_command_line():
    model, got, problems = parse_serve_args(
        ["vllm", "serve", "Qwen/Qwen3-8B", "--max-model-len", "32k", "-tp", "2", "--kv_cache_dtype=fp8",
         "--enable-prefix-caching"], load_manifest("0.33.0"))
    assert model == "Qwen/Qwen3-8B" and problems == ()
    assert got == {"max_model_len": 32000, "tensor_parallel_size": 2, "kv_cache_dtype": "fp8",
                   "enable_prefix_caching": True}


def test_parse_serve_args_model_flag_abbreviation_and_positions():
    model, got, problems = parse_serve_args(["--model", "m/x", "--gpu-memory", "0.8", "--bogus"],
                                            load_manifest("0.18.1"))
    assert model == "m/x" and got["gpu_memory_utilization"] == 0.8
    warning, error = problems
    assert warning.severity == "warning" and warning.index == 2
    assert error.severity == "error" and error.index == 4
    # Indices count the `vllm serve` words when they are given.
    _, _, problems = parse_serve_args(["vllm", "serve", "m/x", "--bogus"], load_manifest("0.18.1"))
    assert [p.index for p in problems] == [3]


def test_parse_serve_args_oldest_release_requires_positional_model():
    _, _, problems = parse_serve_args(["--model", "m/x"], load_manifest("0.6.6.post1"))
    assert any("vllm serve MODEL" in p.message for p in problems)
    model, _, problems = parse_serve_args(["m/x", "--dtype", "half"], load_manifest("0.6.6.post1"))
    assert model == "m/x" and problems == ()


def test_parse_serve_args_extra_positional():
    _, _, problems = parse_serve_args(["a/b", "c/d"], load_manifest("0.18.1"))
    assert problems[0].found == "c/d"


def test_append_action_collects():
    _, got, problems = parse_serve_args(["m", "--middleware", "a.B", "--middleware", "c.D"],
                                        load_manifest("0.10.1.1"))
    assert problems == () and got["middleware"] == ["a.B", "c.D"]


def test_optimisation_level_shorthand():
    # -O3: a compilation level in the oldest releases, rewritten to JSON for config-dataclass
    # releases, and --optimization-level once that flag exists (0.13.0 manifest on).
    assert values(["-O3"], "0.6.6.post1") == {"compilation_config": 3}
    assert values(["-O3"], "0.10.1.1") == {"compilation_config": {"level": 3}}
    assert values(["-O3"], "0.33.0") == {"optimization_level": "3"}
