"""Verdicts with vLLM's reasons and concrete fixes, and the compile-mode choice of TP."""
from __future__ import annotations

import dataclasses
import re

import pytest

from plan_support import GIB, LLAMA_70B_INSTRUCT, LLAMA_8B, QWEN3_06B, facts, gpu, plan, request, sets
from vllm_compile.plan import plan_deployment, valid_tensor_parallel
from vllm_compile.resolve.hardware import catalog

SPEC_KEYS = {"engine.tensor_parallel_size": "tensor_parallel_size", "engine.gpu_memory_utilization":
             "gpu_memory_utilization", "engine.kv_cache_dtype": "kv_cache_dtype", "engine.enforce_eager": "enforce_eager",
             "engine.max_num_batched_tokens": "max_num_batched_tokens", "workload.max_model_len": "max_model_len",
             "workload.concurrency": "concurrency", "hardware.count": "gpu_count", "model.dtype": "dtype",
             "engine.pipeline_parallel_size": "pipeline_parallel_size"}


def replanned(req, fix):
    """Plan the request with the fix's settings applied by hand (not through the planner's own patcher)."""
    changes = {SPEC_KEYS[k]: v for k, v in fix.settings}
    if req.mode == "predict" and "tensor_parallel_size" in changes:
        changes["gpu_count"] = changes["tensor_parallel_size"] * changes.get("pipeline_parallel_size", 1)
    return plan_deployment(dataclasses.replace(req, **changes))


def test_weights_do_not_fit_70b_on_one_l4():
    p = plan(LLAMA_70B_INSTRUCT, "L4", 1, max_model_len=8192)
    assert p.verdict == "weights_do_not_fit"
    assert p.per_gpu.weights_bytes > gpu("L4").memory_bytes
    assert "weights" in p.reasons[0]
    # 70B bf16 = ~131 GiB: at least 6 L4s (22 GiB each) -> TP 8 is the first valid size (64 heads).
    tp_fix = [s for s in sets(p) if "engine.tensor_parallel_size" in s]
    assert tp_fix and tp_fix[0]["engine.tensor_parallel_size"] == 8 and tp_fix[0]["hardware.count"] == 8
    assert p.kv_cache_tokens == 0


def test_no_kv_memory_when_the_budget_is_spent_on_weights():
    # 8B on an L4 with util 0.70: 0.70 x 22.04 GiB = 15.4 GiB, weights alone are 14.99 GiB.
    p = plan(LLAMA_8B, "L4", 1, mode="predict", tensor_parallel_size=1, max_model_len=4096,
             gpu_memory_utilization=0.70)
    assert p.verdict == "no_kv_memory"
    assert p.reasons[0].startswith("No available memory for the cache blocks")
    # A deficit, never a negative amount of memory (issue 10 item 3).
    assert "leaves nothing for the KV cache: short by" in p.reasons[0]
    assert not re.search(r"-\d", p.reasons[0])
    assert p.per_gpu.kv_cache_bytes <= 0
    assert p.kv_cache_tokens == 0 and p.num_gpu_blocks == 0
    assert p.fixes


def test_kv_too_small_states_a_length_that_fits_and_no_more():
    req = dict(mode="predict", tensor_parallel_size=1)
    p = plan(LLAMA_8B, "L4", 1, max_model_len=131_072, **req)
    assert p.verdict == "kv_too_small"
    fits = int(re.search(r"estimated maximum model length is (\d+)", p.reasons[0]).group(1))
    assert {"workload.max_model_len": fits} in sets(p)
    # By hand from the ledger: whole 16-token blocks of 32 layers x 65,536 B.
    assert fits == p.per_gpu.kv_cache_bytes // (32 * 65_536) * 16
    assert plan(LLAMA_8B, "L4", 1, max_model_len=fits, **req).verdict == "ok"
    assert plan(LLAMA_8B, "L4", 1, max_model_len=fits + 1, **req).verdict == "kv_too_small"
    assert plan(LLAMA_8B, "L4", 1, max_model_len=fits + 16, **req).verdict == "kv_too_small"


def test_kv_too_small_in_compile_mode_with_pinned_length_offers_the_same_fix():
    p = plan(LLAMA_8B, "L4", 1, max_model_len=131_072, tensor_parallel_size=1)
    assert p.verdict == "kv_too_small"
    length = next(s["workload.max_model_len"] for s in sets(p) if list(s) == ["workload.max_model_len"])
    assert plan(LLAMA_8B, "L4", 1, max_model_len=length, tensor_parallel_size=1).verdict == "ok"


def test_v0_kv_too_small_uses_the_v0_message():
    p = plan(LLAMA_8B, "L4", 1, version="0.6.3", mode="predict", tensor_parallel_size=1, max_model_len=131_072)
    assert p.verdict == "kv_too_small"
    assert "is larger than the maximum number of tokens that can be stored in KV cache" in p.reasons[0]


@pytest.mark.parametrize("model_id, tp, heads", [(LLAMA_8B, 3, 32), (LLAMA_8B, 5, 32), (QWEN3_06B, 3, 16)])
def test_tp_not_dividing_heads_is_invalid_with_vllms_message(model_id, tp, heads):
    p = plan(model_id, "H100", 8, tensor_parallel_size=tp, max_model_len=4096)
    assert p.verdict == "invalid"
    assert p.reasons[0].startswith(
        f"Total number of attention heads ({heads}) must be divisible by tensor parallel size ({tp})")
    suggested = [s["engine.tensor_parallel_size"] for s in sets(p) if "engine.tensor_parallel_size" in s]
    assert suggested and all(heads % t == 0 for t in suggested)


def test_tp_must_split_kv_heads_evenly():
    # Qwen2.5-7B: 28 heads, 4 KV heads. TP 7 divides the heads but neither 7 % 4 nor 4 % 7 is 0.
    f = facts("Qwen/Qwen2.5-7B-Instruct")
    assert (f.num_attention_heads, f.num_kv_heads) == (28, 4)
    assert not valid_tensor_parallel(f, 7)
    assert [t for t in range(1, 9) if valid_tensor_parallel(f, t)] == [1, 2, 4]
    assert plan("Qwen/Qwen2.5-7B-Instruct", "H100", 8, tensor_parallel_size=7).verdict == "invalid"


def test_bf16_on_t4_runs_float16_in_compile_mode():
    p = plan(QWEN3_06B, "T4", 1, max_model_len=4096)
    assert facts(QWEN3_06B).dtype == "bfloat16"
    assert p.dtype == "float16"
    assert p.verdict == "ok"
    choice = next(c for c in p.choices if c.knob == "dtype")
    assert choice.value == "float16" and "bfloat16" in choice.reason


def test_bf16_on_t4_is_invalid_when_predicting_an_old_release():
    # Llama-3.2-1B (bfloat16): Qwen3 is not served before 0.8.4.
    p = plan("meta-llama/Llama-3.2-1B-Instruct", "T4", 1, version="0.6.3", mode="predict", tensor_parallel_size=1, max_model_len=4096)
    assert p.verdict == "invalid"
    assert p.reasons[0].startswith("Bfloat16 is only supported on GPUs with compute capability of at least 8.0")
    assert "7.5" in p.reasons[0]
    assert {"model.dtype": "float16"} in sets(p)


def test_explicit_bf16_on_t4_is_invalid_in_compile_mode_too():
    p = plan(QWEN3_06B, "T4", 1, max_model_len=4096, dtype="bfloat16")
    assert p.verdict == "invalid"


def test_fp8_kv_on_volta_is_refused_with_vllms_reason():
    # V100 (7.0): FlashAttention needs 8.0, FlashInfer 7.5, Triton's fp8 cache 8.9; FlexAttention
    # has no fp8 cache. vLLM's selector finds no backend.
    p = plan(QWEN3_06B, "V100", 1, max_model_len=4096, kv_cache_dtype="fp8")
    assert p.verdict == "invalid"
    assert p.reasons[0].startswith("No valid attention backend found for cuda with kv_cache_dtype=fp8")
    assert gpu("V100").name in p.reasons[0] and "TRITON_ATTN: [kv_cache_dtype not supported]" in p.reasons[0]
    assert {"engine.kv_cache_dtype": "auto"} in sets(p)


def test_fp8_kv_runs_where_a_backend_takes_it():
    # T4 (7.5) and A100 (8.0): FlashInfer stores fp8 for head size 128; L4 (8.9) and H100: Triton/FA3 too.
    for name in ("T4", "A100-80GB", "L4", "H100"):
        assert plan(QWEN3_06B, name, 1, max_model_len=4096, kv_cache_dtype="fp8").verdict == "ok", name


def test_fp8_kv_with_a_head_size_flashinfer_lacks_needs_ada_or_hopper():
    # Head size 80: FlashInfer takes 64/128/256 only, so below 8.9 only Triton is left, whose fp8 cache
    # needs 8.9 (vLLM PR #43914).
    odd = dataclasses.replace(facts(QWEN3_06B), layers=tuple(dataclasses.replace(layer, head_size=80, head_size_v=80)
                                                             for layer in facts(QWEN3_06B).layers))
    def run(name):
        return plan_deployment(dataclasses.replace(request(QWEN3_06B, name, 1, max_model_len=4096, kv_cache_dtype="fp8"),
                                                   model=odd))
    refused = run("A100-80GB")
    assert refused.verdict == "invalid" and "FLASHINFER: [head_size not supported]" in refused.reasons[0]
    assert run("L4").verdict == "ok"


def test_fp8_e5m2_kv_is_refused_for_mla_models():
    # vLLM's MLA decode backends store fp8 and fp8_e4m3 only.
    p = plan("deepseek-ai/DeepSeek-V3", "H200", 8, max_model_len=8192, kv_cache_dtype="fp8_e5m2")
    assert p.verdict == "invalid" and "use_mla=True" in p.reasons[0]
    assert plan("deepseek-ai/DeepSeek-V3", "H200", 8, max_model_len=8192, kv_cache_dtype="fp8").verdict != "invalid"


def test_context_above_the_model_maximum_is_invalid():
    p = plan(QWEN3_06B, "H100", 1, max_model_len=65_536)
    assert facts(QWEN3_06B).max_position_embeddings == 40_960
    assert p.verdict == "invalid"
    assert "User-specified max_model_len (65536) is greater than the derived max_model_len" in p.reasons[0]
    assert {"workload.max_model_len": 40960} in sets(p)


def test_long_context_allowed_with_the_env_override():
    p = plan(QWEN3_06B, "H100", 1, max_model_len=65_536, allow_long_max_model_len=True)
    assert p.verdict == "ok" and p.max_model_len == 65_536


# --------------------------------------------------------------------------------------------
# Compile mode chooses the smallest TP that fits


def _predict_same(chosen, model_id, gpu_name, count, tp, **kw):
    """The chosen plan's knobs at another TP, as vLLM would run them."""
    return plan(model_id, gpu_name, count, mode="predict", tensor_parallel_size=tp,
                gpu_memory_utilization=chosen.gpu_memory_utilization, max_num_seqs=chosen.max_num_seqs,
                max_num_batched_tokens=chosen.max_num_batched_tokens, kv_cache_dtype="auto", **kw)


@pytest.mark.parametrize("model_id, gpu_name, count, length, concurrency", [
    (LLAMA_70B_INSTRUCT, "H100", 4, 32_768, 1),
    (LLAMA_70B_INSTRUCT, "H100", 4, 8_192, 1),
    (LLAMA_70B_INSTRUCT, "A100-80GB", 8, 131_072, 1),
    (LLAMA_8B, "L4", 4, 131_072, 1),
    (LLAMA_8B, "H100", 1, 32_768, 8),
])
def test_compile_picks_the_smallest_tp_that_fits(model_id, gpu_name, count, length, concurrency):
    chosen = plan(model_id, gpu_name, count, max_model_len=length, concurrency=concurrency)
    assert chosen.verdict == "ok"
    assert chosen.max_concurrency >= concurrency
    tp = chosen.tensor_parallel_size
    assert valid_tensor_parallel(facts(model_id), tp) and tp <= count
    choice = next(c for c in chosen.choices if c.knob == "tensor_parallel_size")
    assert choice.value == tp and not choice.pinned and choice.reason
    smaller = [t for t in range(1, tp) if valid_tensor_parallel(facts(model_id), t)]
    for t in smaller:
        other = _predict_same(chosen, model_id, gpu_name, count, t, max_model_len=length)
        assert other.verdict != "ok" or other.max_concurrency < concurrency, t


def test_70b_on_four_h100_needs_more_than_one_gpu():
    chosen = plan(LLAMA_70B_INSTRUCT, "H100", 4, max_model_len=32_768)
    assert chosen.tensor_parallel_size in (2, 4)
    assert plan(LLAMA_70B_INSTRUCT, "H100", 4, max_model_len=32_768, tensor_parallel_size=1).verdict == \
        "weights_do_not_fit"


def test_8b_on_one_h100_stays_at_tp1():
    p = plan(LLAMA_8B, "H100", 8, max_model_len=32_768)
    assert p.tensor_parallel_size == 1 and p.verdict == "ok"


def test_pinned_tp_needing_more_gpus_than_given_is_invalid():
    p = plan(LLAMA_8B, "H100", 1, tensor_parallel_size=2, max_model_len=4096)
    assert p.verdict == "invalid"
    assert {"hardware.count": 2} in sets(p)


def test_unset_length_is_clamped_to_what_fits_with_a_warning():
    p = plan(LLAMA_8B, "L4", 1)   # model maximum 131,072 does not fit on one L4
    assert p.verdict == "ok" and p.tensor_parallel_size == 1
    assert p.max_model_len < 131_072 and p.max_model_len % p.block_size == 0
    assert any("clamped" in w for w in p.warnings)
    choice = next(c for c in p.choices if c.knob == "max_model_len")
    assert choice.value == p.max_model_len and "clamped" in choice.reason


@pytest.mark.parametrize("kw", [
    dict(gpu_count=1, max_model_len=131_072, tensor_parallel_size=1, mode="predict"),
    dict(gpu_count=8, tensor_parallel_size=3, max_model_len=4096),
    dict(gpu_count=1, max_model_len=8192),
    dict(gpu_count=1, max_model_len=131_072, concurrency=5),
])
def test_every_offered_fix_plans_ok_when_applied(kw):
    model = LLAMA_70B_INSTRUCT if kw.get("max_model_len") == 8192 else LLAMA_8B
    name = "H100" if kw.get("concurrency") or kw.get("tensor_parallel_size") == 3 else "L4"
    count = kw.pop("gpu_count")
    req = request(model, name, count, **kw)
    p = plan_deployment(req)
    assert p.verdict != "ok" and p.fixes
    for fix in p.fixes:
        assert fix.verdict == "ok" and fix.summary
        again = replanned(req, fix)
        assert again.verdict == "ok" and again.max_concurrency == fix.max_concurrency, fix


def test_fixes_are_ranked_cheapest_first():
    # Llama-3.1-70B, 4 x H100, 65,536 tokens, 16 requests: does not fit (issue 10 item 3).
    p = plan(LLAMA_70B_INSTRUCT, "H100", 4, max_model_len=65_536, concurrency=16, alternative_gpus=catalog())
    assert p.verdict == "goal_not_met"
    keys = [set(s) for s in sets(p)]
    first_hardware = next(i for i, k in enumerate(keys) if any(x.startswith("hardware.") for x in k))
    first_outputs = next((i for i, k in enumerate(keys) if k & {"engine.kv_cache_dtype", "model.id"}), first_hardware)
    first_workload = next(i for i, k in enumerate(keys) if k & {"workload.max_model_len", "workload.concurrency"})
    assert first_workload < first_outputs <= first_hardware
    more = next(s for s in sets(p) if "hardware.count" in s and "hardware.gpu" not in s)
    assert more == {"hardware.count": 8, "engine.tensor_parallel_size": 8}
    # Another GPU type comes last, fewest GPUs first, then the smallest.
    moves = [s for s in sets(p) if "hardware.gpu" in s]
    assert keys.index(set(moves[0])) > keys.index(set(more))
    sizes = [(s.get("hardware.count", 4), gpu(s["hardware.gpu"]).memory_bytes) for s in moves]
    assert sizes == sorted(sizes)


def test_the_gpu_fix_names_catalog_gpus_that_fit():
    # Llama-3.1-70B on one L4 (issue 10 item 4): "a GPU with more memory" named none.
    p = plan(LLAMA_70B_INSTRUCT, "L4", 1, max_model_len=8192, alternative_gpus=catalog())
    moves = [f for f in p.fixes if "hardware.gpu" in dict(f.settings)]
    assert moves
    for fix in moves:
        s = dict(fix.settings)
        count = s.get("hardware.count", 1)
        # By hand: 131.45 GiB of bf16 weights must fit in count x the GPU's memory.
        assert count * gpu(s["hardware.gpu"]).memory_bytes > 131.45 * GIB
        assert s["hardware.gpu"] in fix.summary
    # One GPU of 141 GiB or more holds it: the first GPU fix needs a single GPU.
    assert dict(moves[0].settings).get("hardware.count", 1) == 1


def test_fp8_kv_is_never_chosen_but_offered():
    easy = plan(LLAMA_8B, "H100", 1, max_model_len=8192, concurrency=1)
    assert easy.kv_cache_dtype == "auto"
    # Five 128K requests on one H100: 5 x 16 GiB of bf16 KV (32 layers x 8 KV heads x 128 x 2 x 2 B
    # = 131,072 B a token) cannot fit next to 15 GiB of weights; in fp8 they take 5 x 8 GiB.
    hard = plan(LLAMA_8B, "H100", 1, max_model_len=131_072, concurrency=5)
    assert hard.kv_cache_dtype == "auto" and hard.verdict == "goal_not_met" and not hard.goal_met
    assert hard.per_gpu.kv_bytes_per_token == 131_072
    choice = next(c for c in hard.choices if c.knob == "kv_cache_dtype")
    assert choice.value == "auto" and "bfloat16" in choice.reason
    fp8 = next(f for f in hard.fixes if dict(f.settings) == {"engine.kv_cache_dtype": "fp8"})
    assert fp8.summary == "fp8 KV cache: halves KV memory; may change outputs slightly"
    assert fp8.max_concurrency >= 5
    assert plan(LLAMA_8B, "H100", 1, max_model_len=131_072, concurrency=5,
                kv_cache_dtype="fp8").per_gpu.kv_bytes_per_token == 65_536


def test_goal_not_met_states_capacity_found_and_asked_and_true_knob_reasons():
    p = plan(LLAMA_70B_INSTRUCT, "H100", 4, max_model_len=65_536, concurrency=16)
    assert p.verdict == "goal_not_met"
    assert p.reasons[-1] == (f"the KV cache holds {p.max_concurrency:.2f} request(s) of 65536 tokens; "
                             f"workload.concurrency asks for 16")
    assert p.max_concurrency < 16
    tp = next(c for c in p.choices if c.knob == "tensor_parallel_size")
    assert "holds 16" not in tp.reason and f"{p.max_concurrency:.2f} of the 16" in tp.reason
    seqs = next(c for c in p.choices if c.knob == "max_num_seqs")
    assert seqs.value == 1024 and "default" in seqs.reason   # H100's default 1024 already covers 16


def test_fp8_kv_is_not_chosen_on_gpus_without_it():
    p = plan(LLAMA_8B, "V100-32GB", 1, max_model_len=32_768, concurrency=4)
    assert p.kv_cache_dtype == "auto"


# --------------------------------------------------------------------------------------------
# Several tenants on one GPU (reference §1.2, §1.8, §6A step 8): memory other processes hold
# when vLLM starts is outside `requested`; vLLM refuses to start when free < total x util.


def test_startup_free_memory_check_fails_when_tenants_leave_less_than_requested():
    # H100: 79.18 GiB total; util 0.92 requests 72.85 GiB; a 10 GiB neighbour leaves at most
    # 69.18 GiB free -> "Free memory on device ... is less than desired GPU memory utilization".
    p = plan(LLAMA_8B, "H100", 1, mode="predict", tensor_parallel_size=1, max_model_len=8192,
             other_tenants_bytes=10 * GIB)
    total = gpu("H100").memory_bytes
    assert total - 10 * GIB < p.per_gpu.requested_bytes
    # BUG (plan.memory.evaluate): the tenants are only subtracted from the KV budget and the
    # verdict stays "ok"; vLLM would fail its start-up free-memory check.
    assert p.verdict != "ok", p.reasons


def test_tenants_that_fit_outside_the_budget_leave_the_kv_cache_alone():
    # A 4 GiB neighbour fits in the 6.3 GiB outside util x total (with the ~0.5 GiB context):
    # vLLM snapshots free memory after it, so its bytes are not charged to this instance.
    alone = plan(LLAMA_8B, "H100", 1, mode="predict", tensor_parallel_size=1, max_model_len=8192)
    shared = plan(LLAMA_8B, "H100", 1, mode="predict", tensor_parallel_size=1, max_model_len=8192,
                  other_tenants_bytes=4 * GIB)
    assert shared.verdict == "ok"
    # BUG (plan.memory.evaluate): `available` subtracts other_tenants_bytes although memory present
    # before the snapshot is not inside `requested` (reference §1.2), under-predicting KV by 4 GiB.
    assert shared.per_gpu.kv_cache_bytes == alone.per_gpu.kv_cache_bytes


def test_weights_fix_names_the_context_that_fits_at_the_wider_tensor_parallel_size():
    # Llama-3.1-70B on one L4: at TP 8 the weights fit (131.4 GiB / 8) but its full 131,072-token
    # context does not, so the fix gives both changes, and the length it names must start.
    failing = plan(LLAMA_70B_INSTRUCT, "L4")
    assert failing.verdict == "weights_do_not_fit"
    fix = next(s for s in sets(failing) if s.get("engine.tensor_parallel_size") == 8)
    length = fix["workload.max_model_len"]
    assert plan(LLAMA_70B_INSTRUCT, "L4", 8, tensor_parallel_size=8, max_model_len=length, mode="predict").verdict == "ok"
    assert plan(LLAMA_70B_INSTRUCT, "L4", 8, tensor_parallel_size=8, max_model_len=length + 16,
                mode="predict").verdict == "kv_too_small"


def test_awq_on_a_v100_is_invalid_with_vllms_message():
    import json

    from plan_support import CONFIGS
    from vllm_compile.ir.plan import PlanRequest
    from vllm_compile.plan import plan_deployment
    from vllm_compile.resolve.models import facts_from_config

    config = json.loads((CONFIGS / "twhoool02/Llama-2-7b-chat-hf-AWQ" / "config.json").read_text())
    awq = facts_from_config(config, model_id="twhoool02/Llama-2-7b-chat-hf-AWQ", source="catalog")
    assert awq.quantization.method == "awq"

    def predict(gpu_name):
        return plan_deployment(PlanRequest(vllm_version="0.8.5", model=awq, gpu=gpu(gpu_name), gpu_count=1,
                                           mode="predict", dtype="float16", max_model_len=4096,
                                           tensor_parallel_size=1, alternative_gpus=catalog()))

    p = predict("V100-32GB")
    assert p.verdict == "invalid"
    assert p.reasons == ("The quantization method awq is not supported for the current GPU. Minimum capability: 75. "
                         "Current capability: 70.",)
    moves = [dict(f.settings)["hardware.gpu"] for f in p.fixes]
    assert moves and all(gpu(name).compute_capability >= (7, 5) for name in moves)
    assert predict("T4").verdict == "ok"   # Turing runs the AWQ GEMM


def test_a_quantized_checkpoint_of_the_same_model_is_offered_when_it_starts():
    from vllm_compile.diagnostics import SourceMap
    from vllm_compile.ir.plan import PlanRequest
    from vllm_compile.ir.spec import ModelSpec
    from vllm_compile.plan import plan_deployment
    from vllm_compile.resolve.models import resolve_model

    facts = resolve_model(ModelSpec(id="meta-llama/Llama-3.1-70B-Instruct"), spec_dir=".",
                          source=SourceMap("x.yaml"), key_prefix="")

    def predict(gpu_name, tp):
        return plan_deployment(PlanRequest(vllm_version="0.33.0", model=facts, gpu=gpu(gpu_name), gpu_count=tp,
                                           mode="predict", tensor_parallel_size=tp, max_model_len=8192))

    p = predict("L40S", 2)
    assert p.verdict == "weights_do_not_fit"
    offered = [f for f in p.fixes if "model.id" in dict(f.settings)]
    assert [dict(f.settings) for f in offered] == [{"model.id": "nvidia/Llama-3.1-70B-Instruct-FP8"}]
    assert offered[0].summary.startswith("its FP8 (ModelOpt) checkpoint: 33.9 GiB of weights per GPU instead of 65.7")
    # Two T4s cannot run FP8 weights at all, and the FP8 checkpoint would not fit anyway: not offered.
    assert not any("model.id" in s for s in sets(predict("T4", 2)))


def test_kv_dtypes_outside_the_backend_table_are_left_to_the_release_check():
    # fp8_inc is Intel Gaudi's: no CUDA backend stores it. Formats this table does not model
    # (int8_per_token_head for Triton) are not refused here; lowering checks the release's own list.
    assert plan(QWEN3_06B, "H100", 1, max_model_len=4096, kv_cache_dtype="fp8_inc").verdict == "invalid"
    assert plan(QWEN3_06B, "H100", 1, max_model_len=4096, kv_cache_dtype="int8_per_token_head").verdict == "ok"


def test_max_num_seqs_reason_says_when_the_concurrency_raised_it():
    # vLLM's default on an L4 (under 70 GiB) is 256 sequences; 300 concurrent requests raise it.
    raised = plan(QWEN3_06B, "L4", 1, max_model_len=1024, concurrency=300)
    seqs = next(c for c in raised.choices if c.knob == "max_num_seqs")
    assert seqs.value == 300 and seqs.reason == "raised to the workload's concurrency"
    default = plan(QWEN3_06B, "L4", 1, max_model_len=1024, concurrency=8)
    seqs = next(c for c in default.choices if c.knob == "max_num_seqs")
    assert seqs.value == 256 and seqs.reason == "vLLM's default batch size for this GPU"


@pytest.mark.parametrize("model_id", [LLAMA_8B, LLAMA_70B_INSTRUCT, QWEN3_06B, "deepseek-ai/DeepSeek-V3"])
@pytest.mark.parametrize("gpu_name, count", [("L4", 1), ("H100", 4), ("A100-80GB", 8)])
def test_the_planner_never_changes_an_output_knob_on_its_own(model_id, gpu_name, count):
    # However hard the workload, an unset KV dtype stays vLLM's auto, and dtype and quantization
    # stay what the checkpoint says; only fixes may offer to change them.
    for concurrency in (1, 16, 256):
        p = plan(model_id, gpu_name, count, concurrency=concurrency, max_model_len=32_768)
        assert p.kv_cache_dtype == "auto"
        assert p.quantization == (facts(model_id).quantization.method if facts(model_id).quantization else None)
        assert p.dtype == facts(model_id).dtype
