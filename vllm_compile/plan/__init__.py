"""Stage 3, plan: predict vLLM's start-up memory per GPU and choose what the spec left open.

`plan_deployment` evaluates candidate layouts with `memory.evaluate` (vLLM's own accounting for
the pinned release) and picks the smallest tensor-parallel size that starts and meets the
workload goal; every choice carries its reason, every failure vLLM's reason and ranked fixes.
"""
from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

from vllm_compile.ir.facts import GpuFacts, ModelFacts
from vllm_compile.ir.plan import Choice, Fix, Note, Plan, PlanRequest
from vllm_compile.plan import attention, kv, overheads, rules_data, speculative
from vllm_compile.plan.memory import GIB, Evaluation, Layout, evaluate
from vllm_compile.plan.releases import (ReleaseRules, architecture_support, batch_defaults,
                                        default_block_size, engine_choice, lora_ranks, rules_for,
                                        rules_for_model)
from vllm_compile.versions import at_least

if TYPE_CHECKING:  # the fixes are imported where a plan fails: a plan that starts needs none
    from vllm_compile.plan.fixes import Candidate

DTYPE_NAMES = {"half": "float16", "float16": "float16", "bfloat16": "bfloat16", "float": "float32", "float32": "float32"}
FP8_WEIGHT_METHODS = {"fp8", "modelopt", "fbgemm_fp8", "ptpc_fp8", "fp8_per_tensor", "fp8_per_block", "fp8_per_channel"}
QUANT_LABELS = {"fp8": "FP8", "modelopt": "FP8 (ModelOpt)", "fbgemm_fp8": "FP8", "awq": "AWQ 4-bit",
                "gptq": "GPTQ", "compressed-tensors": "compressed-tensors"}
# Lowest compute capability of each weight-quantization kernel (its get_min_capability()):
# the AWQ GEMM needs Turing, the Marlin kernels Ampere; V100 owners run GPTQ or bitsandbytes.
QUANT_MIN_CAPABILITY = {"awq": (7, 5), "awq_marlin": (8, 0), "gptq_marlin": (8, 0), "marlin": (8, 0),
                        "mxfp4": (8, 0), "bitsandbytes": (7, 0), "gptq": (6, 0)}

# The spec key a failing verdict is about, for a layout that passed the refusals above (those
# carry their own key). "invalid" here is vLLM's start-up memory check or CUDA graph capture
# running out of memory: util x total against what lies outside vLLM's budget.
VERDICT_KEYS = {
    "weights_do_not_fit": "engine.tensor_parallel_size",
    "no_kv_memory": "engine.gpu_memory_utilization",
    "kv_too_small": "workload.max_model_len",
    "goal_not_met": "workload.concurrency",
    "invalid": "engine.gpu_memory_utilization",
}
# Speculative decoding is set by a flag of engine.extra_args (--speculative-config, or the older
# --speculative-model / --num-speculative-tokens); this key stands for that flag's item.
SPECULATIVE_KEY = "engine.speculative_config"


def mamba_tp_refusal(facts: ModelFacts, tp: int) -> str | None:
    """vLLM's Mamba2 mixer asserts that TP divides its heads, and its groups unless there is one."""
    for layer in facts.layers:
        if layer.ssm_heads and layer.ssm_heads % tp and layer.mixer == "kda":
            # KimiDeltaAttention asserts num_heads % tp_size == 0 (a bare assertion, no message).
            return f"the {layer.ssm_heads} KDA heads are not divisible by tensor parallel size {tp}"
        if layer.ssm_heads and layer.ssm_heads % tp:
            return (f"Tensor parallel world size must divide num heads ({layer.ssm_heads} Mamba2 heads, "
                    f"tensor parallel size {tp})")
        if layer.mixer == "mamba1" and layer.mixer_width // 2 % tp:
            # MambaMixer splits its intermediate channels over the ranks (vLLM's divide() asserts).
            return (f"{layer.mixer_width // 2} is not divisible by {tp} (the Mamba1 intermediate size over tensor "
                    f"parallel size {tp})")
        if layer.ssm_groups > 1 and layer.ssm_groups % tp:
            return (f"If tensor parallel world size does not divide num_groups, then num_groups must equal 1 "
                    f"({layer.ssm_groups} Mamba2 groups, tensor parallel size {tp})")
    return None


def valid_tensor_parallel(facts: ModelFacts, tp: int) -> bool:
    if facts.num_attention_heads % tp or mamba_tp_refusal(facts, tp):
        return False
    if facts.mla is not None:
        return True
    kv_heads = facts.num_kv_heads
    if kv_heads == 0:   # attention-free (pure Mamba): only the mixer's heads and groups constrain TP
        return True
    return tp % kv_heads == 0 if tp >= kv_heads else kv_heads % tp == 0


def _fixes():
    """vllm_compile.plan.fixes, imported where a plan fails: a plan that starts needs none of it."""
    from vllm_compile.plan import fixes

    return fixes


def plan_deployment(req: PlanRequest) -> Plan:
    if req.nodes > 1 and req.mode == "compile":
        from vllm_compile.plan.nodes import plan_across_nodes

        return plan_across_nodes(req, plan_deployment, valid_tensor_parallel)
    rules = rules_for_model(req.vllm_version, req.model.architecture, req.enable_prefix_caching, req.mamba_cache_mode)
    engine = engine_choice(rules, req.speculative.method if req.speculative else None, req.use_v1)
    rules = engine.rules
    enc = req.model.encoder
    if enc is not None and enc.projector_bytes and not rules.mllama_projector_parallel:
        # vLLM before 0.6.4 builds mllama's projector as a plain nn.Linear: whole on every rank.
        req = dataclasses.replace(req, model=dataclasses.replace(req.model, encoder=dataclasses.replace(
            enc, sharded_bytes=enc.sharded_bytes - enc.projector_bytes,
            replicated_bytes=enc.replicated_bytes + enc.projector_bytes, projector_bytes=0)))
    if req.model.encoder is not None and (req.language_model_only or tower_skipped(req, req.model)):
        # `--language-model-only`, or every modality of the tower limited to 0 in a release that
        # then builds no tower: vLLM loads the decoder alone and profiles no multimodal input.
        enc = req.model.encoder
        req = dataclasses.replace(req, model=dataclasses.replace(
            req.model, encoder=None, weight_bytes=req.model.weight_bytes - enc.sharded_bytes - enc.replicated_bytes,
            parameters=req.model.parameters - enc.parameters))
    facts, gpu = req.model, req.gpu
    total = gpu.memory_bytes
    choices: list[Choice] = []
    warnings: list[str] = []
    # (the spec key it is about, vLLM's reason, candidate fixes) for each refusal
    invalid: list[tuple[str, str, list[Candidate]]] = []

    dtype = _resolve_dtype(req, rules, facts, gpu, choices, warnings, invalid)
    dtype_bytes = 4 if dtype == "float32" else 2
    quant = req.quantization or (facts.quantization.method if facts.quantization else None)
    unsupported = _kernel_unsupported(quant, gpu)
    if unsupported:
        invalid.append(("hardware.gpu", unsupported, []))
    _architecture_release(req.vllm_version, facts, warnings, invalid)
    _encoder_decoder_refusals(req, rules, facts, invalid)
    if (facts.encoder is not None and facts.encoder.audio_parameters and not req.skip_mm_profiling
            and dict(req.mm_limits).get("audio", 1) > 0 and mm_items_per_prompt(req, facts) == 0):
        # Qwen2.5-Omni with images and videos limited to 0: vLLM's profile run then takes the
        # modality left, audio, through the audio tower, whose activation is not modelled here.
        warnings.append(Note("images and videos are limited to 0, so vLLM profiles a dummy audio batch through the "
                             "audio tower instead, which vllm-compile does not model: the activation peak leaves it "
                             "out (limit audio to 0 as well for a text-only profile)", "engine.extra_args"))
    if rules.engine == "v1" and rules.mamba_state_blocks != 1 and kv.attention_free(list(facts.layers)):
        # With prefix caching vLLM sizes an attention-free model's Mamba blocks by the cache's
        # mamba_block_size instead of max_model_len (vllm-project/vllm#25752), not modelled here.
        warnings.append(Note("prefix caching on a model without attention: vLLM then cuts its Mamba state into "
                             "blocks of the cache's mamba_block_size instead of one max_model_len block, which "
                             "vllm-compile does not model; the plan keeps max_model_len blocks with the state blocks "
                             "of the Mamba cache mode, so its token count differs from vLLM's", "engine.extra_args"))
    sparse_gpu = attention.sparse_mla_gpu_refusal(facts, gpu, rules.engine)
    if sparse_gpu:
        invalid.append(("hardware.gpu", sparse_gpu, []))
    refusal = attention.kv_dtype_refusal(req.kv_cache_dtype, facts, gpu, rules.engine)
    if refusal:
        invalid.append(("engine.kv_cache_dtype", refusal, [_fixes().Candidate.of({"engine.kv_cache_dtype": "auto"},
                                               f"vLLM's auto KV cache dtype (the model's {dtype})")]))

    if engine.note:
        warnings.append(Note(engine.note, SPECULATIVE_KEY if req.speculative is not None else "engine.version"))
    if engine.refusal:
        invalid.append((SPECULATIVE_KEY, engine.refusal, []))
    if req.speculative is not None:
        refused = speculative.refusal(req.speculative, facts)
        if refused:
            invalid.append((SPECULATIVE_KEY, refused, []))
        elif req.speculative.method in ("eagle", "eagle3", "draft_model") and req.speculative.draft is None:
            warnings.append(Note(f"the {req.speculative.method} drafter was not resolved: its weights and KV cache are "
                                 f"not counted", SPECULATIVE_KEY))
    model_max = facts.max_position_embeddings
    # A config without any length key: vLLM assumes 2048 by default but takes the user's value as given.
    if (req.max_model_len is not None and req.max_model_len > model_max and not req.allow_long_max_model_len
            and not facts.max_len_assumed):
        invalid.append(("workload.max_model_len", f"User-specified max_model_len ({req.max_model_len}) is greater than the derived max_model_len "
                        f"(max_position_embeddings={model_max}) of {facts.model_id} (set VLLM_ALLOW_LONG_MAX_MODEL_LEN=1 "
                        f"only if the model's rope scaling supports it)",
                        [_fixes().Candidate.of({"workload.max_model_len": model_max}, "the model's maximum context",
                                      _fixes().COST_WORKLOAD)]))

    pp = req.pipeline_parallel_size
    if pp > facts.num_layers:
        invalid.append(("engine.pipeline_parallel_size", f"pipeline_parallel_size {pp} is larger than the {facts.num_layers} layers of "
                        f"{facts.model_id}: every pipeline stage needs at least one layer",
                        [_fixes().Candidate.of({"engine.pipeline_parallel_size": facts.num_layers}, "one layer per stage")]))
    candidates = _tp_candidates(req, facts, pp, invalid)
    length = req.max_model_len or model_max
    base = _base_layout(req, rules, facts, gpu, dtype_bytes, length, candidates[0] if candidates else 1, pp)

    if invalid or not candidates:
        ev = evaluate(facts, gpu, total, rules, base)
        reasons = [r for _, r, _ in invalid]
        offered = [c for _, _, cs in invalid for c in cs]
        if unsupported or refusal or sparse_gpu:
            # A GPU that runs the kernel or the KV dtype.
            offered += _fixes().gpu_candidates(req, ev)
        found = _fixes().verified(req, offered, plan_deployment) if req.propose_fixes else []
        return _to_plan(req, rules, ev, "invalid", reasons, found, choices, warnings, dtype, quant, goal_met=False,
                        failure_key=invalid[0][0] if invalid else "engine.tensor_parallel_size")

    if req.mode == "predict":
        ev = evaluate(facts, gpu, total, rules, base)
        if req.auto_fit_max_model_len:
            ev = _auto_fit(facts, gpu, total, rules, ev, warnings)
        return _finish(req, rules, facts, gpu, ev, choices, warnings, dtype, quant)

    # Compile: the smallest TP that starts and holds the concurrency goal. Only knobs that leave
    # the model's outputs alone are chosen here; a KV dtype, quantization or dtype that would
    # make it fit is offered as a fix instead.
    layouts = [_retarget(req, rules, facts, gpu, base, tp) for tp in candidates]
    evaluations = [evaluate(facts, gpu, total, rules, lay) for lay in layouts]
    chosen = next((ev for ev in evaluations if _meets(ev, req.concurrency)), None)
    if chosen is None and req.max_model_len is None:
        # No length asked for: serve the model's maximum clamped to what fits the goal.
        chosen = _clamp_length(facts, gpu, total, rules, layouts[-1], req.concurrency)
        if chosen is not None:
            warnings.append(Note(f"max_model_len clamped from the model's maximum {model_max} to "
                                 f"{chosen.layout.max_model_len} so that {req.concurrency} request(s) of that length "
                                 f"fit the KV cache", "workload.max_model_len"))
    if chosen is None:
        ok = [ev for ev in evaluations if ev.verdict == "ok"]
        chosen = max(ok, key=lambda ev: ev.capacity.max_concurrency) if ok else evaluations[-1]
    _record_choices(req, rules, chosen, choices, dtype)
    return _finish(req, rules, facts, gpu, chosen, choices, warnings, dtype, quant)


# --------------------------------------------------------------------------------------------

def _cc(gpu: GpuFacts) -> str:
    return f"{gpu.compute_capability[0]}.{gpu.compute_capability[1]}"


def _resolve_dtype(req, rules, facts, gpu, choices, warnings, invalid) -> str:
    checkpoint = facts.dtype if facts.dtype in ("bfloat16", "float16", "float32") else "bfloat16"
    if req.dtype == "auto":
        dtype = "float16" if checkpoint == "float32" else checkpoint
    else:
        dtype = DTYPE_NAMES.get(req.dtype, req.dtype)
    if dtype == "bfloat16" and not gpu.bf16:
        message = (f"Bfloat16 is only supported on GPUs with compute capability of at least 8.0. Your {gpu.name} GPU "
                   f"has compute capability {_cc(gpu)}")
        if req.dtype == "auto" and req.mode == "compile":
            choices.append(Choice("dtype", "float16", f"the checkpoint is bfloat16 but the {gpu.name} (compute capability "
                                  f"{_cc(gpu)}) has no bfloat16; vLLM runs it in float16"))
            return "float16"
        if req.dtype == "auto" and rules.bf16_auto_fallback:
            warnings.append(Note(message + "; this release falls back to float16", "model.dtype"))
            return "float16"
        invalid.append(("model.dtype", message, [_fixes().Candidate.of({"model.dtype": "float16"}, "run the model in float16 (--dtype half)",
                                                _fixes().COST_OUTPUTS)]))
    return dtype


def _architecture_release(version: str, facts: ModelFacts, warnings: list, invalid: list) -> None:
    """An architecture older releases do not serve is refused before its first release (the fix:
    that release, or for a Mamba hybrid the first that runs it on V1 with the hybrid page). Between
    the two, vLLM runs a hybrid on the V0 engine, which the planner does not model: a warning."""
    support = architecture_support(facts.architecture)
    if support is None:
        return
    if not at_least(version, support.first):
        target = support.v1_from or support.first
        invalid.append(("engine.version", f"vLLM {version} does not serve {facts.architecture} ({facts.model_id}): "
                        f"it stops with 'Model architectures ['{facts.architecture}'] are not supported for now'; "
                        f"support came in vLLM {support.first} ({support.why})",
                        [_fixes().Candidate.of({"engine.version": target}, f"vLLM {target}, the first release that serves "
                                               f"{facts.architecture}" + (" on the V1 engine's Mamba cache" if support.v1_from else ""))]))
    elif support.removed_in and at_least(version, support.removed_in):
        last = support.last or support.first
        # vLLM's registry keeps removed architectures in _PREVIOUSLY_SUPPORTED_MODELS with the last
        # release that served them, and says so (registry.py, 0.11.0 - 0.33.0 wheels).
        invalid.append(("engine.version", f"vLLM {version} does not serve {facts.architecture} ({facts.model_id}): "
                        f"it stops with 'Model architecture {facts.architecture} was supported in vLLM until "
                        f"v{last}, and is not supported anymore'; "
                        f"it was removed in vLLM {support.removed_in} ({support.removed_why})",
                        [_fixes().Candidate.of({"engine.version": last}, f"vLLM {last}, the newest bundled release "
                                               f"that serves {facts.architecture}")]))
    elif support.v1_from and not at_least(version, support.v1_from):
        warnings.append(Note(f"vLLM {version} runs {facts.architecture} on the V0 engine, whose Mamba cache "
                             f"(one state slot per max_num_seqs, outside the KV cache) vllm-compile does not model: the "
                             f"plan follows the V1 hybrid cache of {support.v1_from} and later; pin engine.version "
                             f"{support.v1_from} or newer for a prediction that holds", "engine.version"))


def _encoder_decoder_refusals(req: PlanRequest, rules: ReleaseRules, facts: ModelFacts, invalid: list) -> None:
    """What V0's encoder-decoder model runner refuses, for a model whose decoder cross-attends to
    its encoder (Llama-3.2-Vision, which vLLM serves on V0 only): vllm/worker/utils.py
    assert_enc_dec_mr_supported_scenario raises NotImplementedError at start-up for a LoRA
    config, a pipeline larger than 1 and speculative decoding (lookahead slots), with the texts of
    vllm/utils.py STR_NOT_IMPL_ENC_DEC_LORA / _PP / _SPEC_DEC quoted here."""
    if facts.encoder is None or not facts.encoder.cross_attention or rules.engine != "v0":
        return
    Candidate = _fixes().Candidate
    if req.use_v1 and rules_for(req.vllm_version).engine == "v1":
        # A V1-default release that still has V0: EngineArgs._is_v1_supported_oracle sends a model
        # that is not V1-compatible (encoder-decoder) to V0, or with VLLM_USE_V1=1 set raises
        # _raise_or_fallback's NotImplementedError naming the architectures.
        invalid.append(("engine.version", f"VLLM_USE_V1=1 is not supported with ['{facts.architecture}']. "
                        f"(vLLM {req.vllm_version} runs it on the V0 engine only: unset VLLM_USE_V1)", []))
    pp, tp = req.pipeline_parallel_size, req.tensor_parallel_size
    if req.max_loras:
        key = "model.lora_adapters" if facts.lora_adapters else "engine.extra_args"
        invalid.append((key, "LoRA is not currently supported with encoder/decoder models. "
                             f"({facts.architecture} runs on vLLM's V0 encoder-decoder runner; serve it without LoRA)",
                        []))
    if pp > 1:
        fix = [Candidate.of({"engine.pipeline_parallel_size": 1, "engine.tensor_parallel_size": tp * pp},
                            f"tensor parallelism over the same {tp * pp} GPUs instead of pipeline stages")] if tp else []
        invalid.append(("engine.pipeline_parallel_size", "Pipeline parallelism is not currently supported with "
                        f"encoder/decoder models. ({facts.architecture} runs on vLLM's V0 encoder-decoder runner)", fix))
    if req.speculative is not None:
        invalid.append((SPECULATIVE_KEY, "Speculative decoding is not currently supported with encoder/decoder "
                        f"models. ({facts.architecture} runs on vLLM's V0 encoder-decoder runner; drop "
                        "--speculative-config)", []))


def _prequantized_bnb(facts: ModelFacts) -> bool:
    q = facts.quantization
    return q is not None and q.method == "bitsandbytes" and q.prequantized


def _tp_candidates(req, facts, pp, invalid) -> list[int]:
    heads = facts.num_attention_heads
    if req.tensor_parallel_size is not None:
        tp = req.tensor_parallel_size
        if tp > 1 and _prequantized_bnb(facts):
            # The saved quant states describe whole tensors; vLLM's bitsandbytes loader cannot
            # split them (bitsandbytes_loader.py, _verify_model_compatibility).
            invalid.append(("engine.tensor_parallel_size", "Prequant BitsAndBytes models with tensor parallelism is not supported. "
                            "Please try with pipeline parallelism.",
                            [_fixes().Candidate.of({"engine.tensor_parallel_size": 1, "engine.pipeline_parallel_size": tp * pp},
                                          "split the layers into pipeline stages instead of splitting tensors")]))
            return []
        if not valid_tensor_parallel(facts, tp):
            valid = [t for t in range(1, max(2 * tp, 9)) if valid_tensor_parallel(facts, t)]
            nearest = sorted(valid, key=lambda t: (abs(t - tp), t))[:2]
            mamba = mamba_tp_refusal(facts, tp)
            if heads % tp:
                reason = f"Total number of attention heads ({heads}) must be divisible by tensor parallel size ({tp})"
            elif mamba:
                reason = mamba
            else:
                reason = (f"tensor parallel size {tp} does not split the {facts.num_kv_heads} KV heads evenly "
                          f"(one must divide the other)")
            invalid.append(("engine.tensor_parallel_size", reason, [_fixes().Candidate.of({"engine.tensor_parallel_size": t}, "the nearest size that splits the heads "
                                                  "evenly") for t in nearest]))
            return []
        dp = req.data_parallel_size
        if req.mode == "compile" and tp * pp * dp > req.gpu_count:
            replicas = f" x data_parallel_size {dp}" if dp > 1 else ""
            # A data-parallel size is a flag: the diagnostic points at its engine.extra_args item.
            key = "engine.data_parallel_size" if dp > 1 else "engine.tensor_parallel_size"
            invalid.append((key, f"tensor_parallel_size {tp} x pipeline_parallel_size {pp}{replicas} needs {tp * pp * dp} "
                            f"GPUs; hardware.count gives {req.gpu_count}",
                            [_fixes().Candidate.of({"hardware.count": tp * pp * dp}, f"{tp * pp * dp - req.gpu_count} more GPU(s)",
                                          _fixes().COST_GPUS)]))
            return []
        return [tp]
    limit = 1 if _prequantized_bnb(facts) else max(1, req.gpu_count // (pp * req.data_parallel_size))
    found = [t for t in range(1, limit + 1) if valid_tensor_parallel(facts, t)]
    replicas = pp * req.data_parallel_size
    if req.mode == "compile" and replicas > req.gpu_count:
        what = f"pipeline_parallel_size {pp}" + (f" x data_parallel_size {req.data_parallel_size}"
                                                 if req.data_parallel_size > 1 else "")
        key = "engine.data_parallel_size" if req.data_parallel_size > 1 else "engine.pipeline_parallel_size"
        invalid.append((key, f"{what} needs at least {replicas} GPUs; hardware.count gives {req.gpu_count}",
                        [_fixes().Candidate.of({"hardware.count": replicas}, f"{replicas - req.gpu_count} more GPU(s)", _fixes().COST_GPUS)]))
        return []
    return found or [1]


def _base_layout(req, rules, facts, gpu, dtype_bytes, length, tp, pp) -> Layout:
    batch = batch_defaults(rules, gpu.name, gpu.memory_bytes, length, facts.mla is not None)
    block, _ = default_block_size(rules, gpu.compute_capability, facts.mla is not None,
                                  facts.mla is not None and facts.mla.sparse)
    seqs = req.max_num_seqs or (max(batch.max_num_seqs, req.concurrency) if req.mode == "compile" else batch.max_num_seqs)
    tokens = req.max_num_batched_tokens or batch.max_num_batched_tokens
    util = req.gpu_memory_utilization or rules.default_utilization
    return Layout(tp=tp, pp=pp, utilization=util, max_model_len=length, kv_cache_dtype=req.kv_cache_dtype,
                  max_num_seqs=seqs, max_num_batched_tokens=tokens, block_size=req.block_size or block,
                  enforce_eager=req.enforce_eager, expert_parallel=req.enable_expert_parallel,
                  dtype_bytes=dtype_bytes, hybrid=rules.hybrid_kv_manager and not req.disable_hybrid_kv_cache_manager,
                  kv_cache_memory_bytes=req.kv_cache_memory_bytes, other_tenants_bytes=req.other_tenants_bytes,
                  cpu_offload_bytes=req.cpu_offload_bytes, max_loras=req.max_loras,
                  max_lora_rank=req.max_lora_rank, dp=req.data_parallel_size,
                  mm_items_per_prompt=mm_items_per_prompt(req, facts), mm_max_pixels=req.mm_max_pixels,
                  mm_max_tiles=req.mm_max_tiles,
                  mm_videos_per_prompt=mm_videos_per_prompt(req, facts),
                  state_dtypes=(req.mamba_cache_dtype, req.mamba_ssm_cache_dtype),
                  speculative=req.speculative)


def mm_items_per_prompt(req: PlanRequest, facts: ModelFacts) -> int:
    """Items per prompt of the modality vLLM profiles with (0: no multimodal profiling): the
    image limit (default 1), 0 when `--skip-mm-profiling` is set or every modality the tower
    takes is limited to 0 (video counts with images for the Qwen towers, which take both)."""
    if facts.encoder is None or req.skip_mm_profiling:
        return 0
    limits = dict(req.mm_limits)
    image = limits.get(facts.encoder.modality, 1)
    if facts.encoder.video_frames_per_patch or facts.encoder.video_max_pixels:
        # the profile sizes a video itself (overheads.encoder_profile)
        return max(0, image)
    video = limits.get("video", 1) if facts.encoder.pixels_per_token else 0
    return image if image > 0 else (1 if video > 0 else 0)


def tower_skipped(req: PlanRequest, facts: ModelFacts) -> bool:
    """Whether vLLM builds no vision tower (nor projector) because `--limit-mm-per-prompt` is 0
    for every modality it takes (the Qwen and InternVL towers: image and video; the others:
    image), in the releases from planner-rules.json `defaults.tower_skipped_at_zero_limits`
    for that tower row."""
    enc = facts.encoder
    if enc is None or not req.mm_limits:
        return False
    row = rules_data.data()["defaults"]["tower_skipped_at_zero_limits"]["towers"].get(enc.kind)
    if row is None or not at_least(req.vllm_version, row["from"]):
        return False
    limits = dict(req.mm_limits)
    return all(limits.get(m, 1) == 0 for m in row["modalities"])


def mm_videos_per_prompt(req: PlanRequest, facts: ModelFacts) -> int:
    """Videos per prompt for a tower that takes them (the Qwen towers; default 1), 0 otherwise or
    when `--skip-mm-profiling` is set: where the release sizes the dummy video from the context,
    the profile run may encode a video rather than an image (overheads.encoder_profile)."""
    enc = facts.encoder
    if enc is None or req.skip_mm_profiling or not (enc.video_frames_per_patch or enc.video_max_pixels):
        return 0
    return max(0, dict(req.mm_limits).get("video", 1))


def _retarget(req, rules, facts, gpu, base: Layout, tp: int) -> Layout:
    layout = dataclasses.replace(base, tp=tp)
    if req.gpu_memory_utilization is None:
        layout = dataclasses.replace(layout, utilization=_headroom_utilization(rules, facts, gpu, layout))
    return layout


def _headroom_utilization(rules: ReleaseRules, facts: ModelFacts, gpu: GpuFacts, layout: Layout) -> float:
    """The release default, unless what vLLM allocates outside its budget (CUDA context, and
    CUDA graphs before 0.21) would not fit in the rest of the GPU."""
    util = rules.default_utilization
    layers = -(-facts.num_layers // layout.pp)
    graphs = overheads.cuda_graph_bytes(layers, layout.max_num_seqs, layout.enforce_eager, era=rules.era,
                                        max_num_batched_tokens=layout.max_num_batched_tokens,
                                        nccl_in_graphs=overheads.nccl_in_graphs(gpu, layout.tp, rules.cuda_graphs_in_budget))
    outside = overheads.outside_budget_bytes(graphs, rules.cuda_graphs_in_budget, layout.other_tenants_bytes)
    if gpu.memory_bytes * (1 - util) >= outside:
        return util
    return max(0.5, math.floor((gpu.memory_bytes - outside) / gpu.memory_bytes * 100) / 100)


def _auto_fit(facts, gpu, total, rules, ev: Evaluation, warnings: list[str]) -> Evaluation:
    """vLLM's `--max-model-len auto`: the model's maximum when one request of it fits, else
    the largest length that does (kv_cache_utils.py, _auto_fit_max_model_len)."""
    available = min(r.kv_cache_bytes for r in ev.ranks)
    if ev.verdict == "kv_too_small" and ev.largest_fitting_len > 0:
        fitted = evaluate(facts, gpu, total, rules, dataclasses.replace(ev.layout, max_model_len=ev.largest_fitting_len))
        warnings.append(Note(f"Auto-fit max_model_len: reduced from {ev.layout.max_model_len} to "
                             f"{ev.largest_fitting_len} to fit in available GPU memory ({available / GIB:.2f} GiB "
                             f"available for KV cache)", "workload.max_model_len"))
        return fitted
    if ev.verdict == "no_kv_memory" or (ev.verdict == "kv_too_small" and ev.largest_fitting_len <= 0):
        return dataclasses.replace(ev, verdict="no_kv_memory", reasons=(
            "Cannot auto-fit max_model_len: not enough GPU memory available to serve even a single token. "
            "Try increasing `gpu_memory_utilization`.",) + ev.reasons)
    return ev


def _meets(ev: Evaluation, concurrency: int) -> bool:
    return ev.verdict == "ok" and ev.capacity.max_concurrency >= concurrency


def _clamp_length(facts, gpu, total, rules, layout: Layout, concurrency: int) -> Evaluation | None:
    lo, hi, best = 1, layout.max_model_len, None
    while lo <= hi:
        mid = (lo + hi) // 2
        ev = evaluate(facts, gpu, total, rules, dataclasses.replace(layout, max_model_len=mid))
        if _meets(ev, concurrency):
            best, lo = ev, mid + 1
        else:
            hi = mid - 1
    if best is None or best.layout.max_model_len < 256:
        return None
    # Round down to a whole number of blocks for a tidy, stable value.
    length = best.layout.max_model_len
    rounded = max(layout.block_size, length - length % layout.block_size)
    return evaluate(facts, gpu, total, rules, dataclasses.replace(layout, max_model_len=rounded))


def _record_choices(req: PlanRequest, rules: ReleaseRules, ev: Evaluation, choices: list[Choice], dtype: str) -> None:
    lay = ev.layout
    holds = _meets(ev, req.concurrency)
    if req.tensor_parallel_size is None:
        if not holds:
            reason = (f"the size with the most {_cache_name(req.model).replace(' ', '-')} room that {req.gpu_count} GPU(s) allow; it holds "
                      f"{max(0.0, ev.capacity.max_concurrency):.2f} of the {req.concurrency} request(s) of "
                      f"{lay.max_model_len} tokens asked")
        elif lay.tp == 1:
            reason = "one GPU holds the model and the workload"
        else:
            heads = (f"the {req.model.num_attention_heads} attention heads" if req.model.num_attention_heads
                     else "the Mamba mixers' heads and groups")
            reason = (f"the smallest tensor-parallel size that divides {heads}, fits the weights and holds "
                      f"{req.concurrency} request(s) of {lay.max_model_len} tokens")
        choices.append(Choice("tensor_parallel_size", lay.tp, reason))
    else:
        choices.append(Choice("tensor_parallel_size", lay.tp, "pinned in the spec", pinned=True))
    if req.max_model_len is None:
        choices.append(Choice("max_model_len", lay.max_model_len,
                              "the model's maximum context" if lay.max_model_len == req.model.max_position_embeddings
                              else "the model's maximum, clamped to what the KV cache holds"))
    else:
        choices.append(Choice("max_model_len", lay.max_model_len, "workload.max_model_len", pinned=True))
    if req.gpu_memory_utilization is None:
        why = (f"vLLM {rules.version}'s default" if lay.utilization == rules.default_utilization else
               "lowered from the release default so that the CUDA context and graphs fit outside vLLM's budget")
        choices.append(Choice("gpu_memory_utilization", lay.utilization, why))
    else:
        choices.append(Choice("gpu_memory_utilization", lay.utilization, "pinned in the spec", pinned=True))
    sparse = req.model.mla is not None and req.model.mla.sparse
    if lay.kv_cache_dtype == "auto" and sparse and rules.sparse_mla_auto_fp8:
        choices.append(Choice("kv_cache_dtype", "auto", "vLLM's auto for sparse MLA (DeepSeek-V3.2): the packed "
                                                        "fp8_ds_mla cache (656 bytes per token and layer); the planner "
                                                        "never changes it on its own"))
    elif lay.kv_cache_dtype == "auto":
        choices.append(Choice("kv_cache_dtype", "auto", f"vLLM's auto: the model's dtype ({dtype}); the planner never "
                                                        f"changes it on its own"))
    else:
        choices.append(Choice("kv_cache_dtype", lay.kv_cache_dtype, "engine.kv_cache_dtype", pinned=True))
    if not any(c.knob == "dtype" for c in choices):
        choices.append(Choice("dtype", dtype, "model.dtype" if req.dtype != "auto" else
                              "vLLM's auto: the checkpoint's dtype", pinned=req.dtype != "auto"))
    if req.max_num_seqs is None:
        default = batch_defaults(rules, req.gpu.name, req.gpu.memory_bytes, lay.max_model_len,
                                 req.model.mla is not None).max_num_seqs
        choices.append(Choice("max_num_seqs", lay.max_num_seqs,
                              "raised to the workload's concurrency" if lay.max_num_seqs > default
                              else "vLLM's default batch size for this GPU"))
    if req.max_num_batched_tokens is None:
        choices.append(Choice("max_num_batched_tokens", lay.max_num_batched_tokens,
                              "vLLM's default for this GPU and release (drives the activation peak)"))
    adapters = req.model.lora_adapters
    if adapters and req.max_loras:
        # A value other than the adapters' own comes from engine.extra_args.
        count, largest = len(adapters), max(a.rank for a in adapters)
        rounded = next((r for r in lora_ranks(rules.version) if r >= largest), largest)
        from vllm_compile.plan.weights import lora_slot_bytes

        slots = lora_slot_bytes(req.model, lay.tp, lay.pp, lay.max_loras, lay.max_lora_rank, lay.dtype_bytes)
        held = f"; the slots add {slots / GIB:.2f} GiB to each GPU's weights"
        choices.append(Choice("max_loras", req.max_loras, (f"one slot per LoRA adapter ({count})" if
                                                           req.max_loras == count else "engine.extra_args") + held,
                              pinned=req.max_loras != count))
        choices.append(Choice("max_lora_rank", req.max_lora_rank,
                              f"the largest adapter rank ({largest}), rounded up to one vLLM {rules.version} accepts"
                              if req.max_lora_rank == rounded else "engine.extra_args",
                              pinned=req.max_lora_rank != rounded))


def _finish(req, rules, facts, gpu, ev: Evaluation, choices, warnings, dtype, quant) -> Plan:
    reasons = list(ev.reasons)
    verdict = ev.verdict
    goal = req.concurrency if req.mode == "compile" else 1
    goal_met = ev.verdict == "ok" and ev.capacity.max_concurrency >= goal
    if ev.verdict == "ok" and not goal_met:
        verdict = "goal_not_met"
        reasons.append(f"the {_cache_name(facts)} holds {max(0.0, ev.capacity.max_concurrency):.2f} request(s) of "
                       f"{ev.layout.max_model_len} tokens; workload.concurrency asks for {req.concurrency}")
    found = _fixes().verified(req, _fixes().memory_candidates(req, rules, ev, verdict), plan_deployment) \
        if verdict != "ok" and req.propose_fixes else []
    return _to_plan(req, rules, ev, verdict, reasons, found, choices, warnings, dtype, quant, goal_met,
                    failure_key=ev.failure_key or VERDICT_KEYS.get(verdict))


def _cache_name(facts: ModelFacts) -> str:
    """What vLLM's KV cache holds for this model, in the words the ledger uses: a model without an
    attention layer keeps only its recurrent state there ("state cache"), not per-token KV."""
    return "state cache" if kv.attention_free(list(facts.layers)) else "KV cache"


def _kernel_unsupported(method: str | None, gpu: GpuFacts) -> str | None:
    """vLLM's reason when the GPU cannot run this weight-quantization kernel, else None."""
    if gpu.vendor != "nvidia" or method is None:
        return None
    if method in FP8_WEIGHT_METHODS and gpu.compute_capability < (8, 0):
        return f"FP8 weights need compute capability 8.0 or newer; the {gpu.name} has {_cc(gpu)}"
    needed = QUANT_MIN_CAPABILITY.get(method)
    if needed is None or gpu.compute_capability >= needed:
        return None
    return (f"The quantization method {method} is not supported for the current GPU. Minimum capability: "
            f"{needed[0]}{needed[1]}. Current capability: {gpu.compute_capability[0]}{gpu.compute_capability[1]}.")


def _to_plan(req, rules, ev: Evaluation, verdict, reasons, found: list[Fix], choices, warnings, dtype, quant,
             goal_met, failure_key: str | None) -> Plan:
    lay = ev.layout
    return Plan(
        vllm_version=req.vllm_version, engine=rules.engine, tensor_parallel_size=lay.tp,
        pipeline_parallel_size=lay.pp, max_model_len=lay.max_model_len, gpu_memory_utilization=lay.utilization,
        block_size=lay.block_size, per_gpu=ev.ledger, kv_cache_tokens=max(0, ev.capacity.tokens),
        max_concurrency=round(max(0.0, ev.capacity.max_concurrency), 2), verdict=verdict, reasons=tuple(reasons),
        fixes=tuple(found), dtype=dtype, kv_cache_dtype=lay.kv_cache_dtype,
        max_num_seqs=lay.max_num_seqs, max_num_batched_tokens=lay.max_num_batched_tokens,
        enforce_eager=lay.enforce_eager, enable_expert_parallel=lay.expert_parallel, quantization=quant,
        num_gpu_blocks=ev.capacity.num_blocks, choices=tuple(choices), warnings=tuple(warnings), ranks=ev.ranks,
        data_parallel_size=req.data_parallel_size,
        headroom_needed_bytes=ev.headroom_needed, goal_met=goal_met, kv_cache_memory_bytes=lay.kv_cache_memory_bytes,
        concurrency_goal=req.concurrency if req.mode == "compile" else 1,
        max_loras=req.max_loras, max_lora_rank=req.max_lora_rank if req.max_loras else 0,
        failure_key=failure_key, kv_cache_format=_kv_cache_format(req.model, rules, lay.kv_cache_dtype),
        state_page_bytes=ev.state_page_bytes, state_groups=ev.state_groups, state_blocks_per_sequence=ev.state_blocks,
        state_bytes_per_sequence=ev.state_bytes_per_sequence, encoder_towers=_encoder_towers(req.model))


def _encoder_towers(facts: ModelFacts) -> str:
    """The modalities of the model's towers for the ledger: "image", "audio", "image+audio"."""
    enc = facts.encoder
    if enc is None:
        return ""
    return enc.modality + ("+audio" if enc.audio_parameters else "")


def _kv_cache_format(facts: ModelFacts, rules: ReleaseRules, kv_cache_dtype: str) -> str:
    """Sparse MLA's packed fp8_ds_mla where vLLM stores the cache so; "" otherwise."""
    if facts.mla is None or not facts.mla.sparse:
        return ""
    from vllm_compile.plan.kv import sparse_mla_format

    stored = sparse_mla_format(kv_cache_dtype, rules.sparse_mla_auto_fp8)
    return "" if stored == kv_cache_dtype else stored
