"""Stage 3, plan: predict vLLM's start-up memory per GPU and choose what the spec left open.

`plan_deployment` evaluates candidate layouts with `memory.evaluate` (vLLM's own accounting for
the pinned release) and picks the smallest tensor-parallel size that starts and meets the
workload goal; every choice carries its reason, every failure vLLM's reason and ranked fixes.
"""
from __future__ import annotations

import dataclasses
import math

from vllm_compile.ir.facts import GpuFacts, ModelFacts
from vllm_compile.ir.plan import Choice, Plan, PlanRequest
from vllm_compile.plan import kv, overheads
from vllm_compile.plan.memory import GIB, Evaluation, Layout, evaluate
from vllm_compile.plan.releases import ReleaseRules, batch_defaults, default_block_size, rules_for

DTYPE_NAMES = {"half": "float16", "float16": "float16", "bfloat16": "bfloat16", "float": "float32", "float32": "float32"}
FP8_WEIGHT_METHODS = {"fp8", "modelopt", "fbgemm_fp8", "ptpc_fp8", "fp8_per_tensor", "fp8_per_block", "fp8_per_channel"}
QUANT_LABELS = {"fp8": "FP8", "modelopt": "FP8 (ModelOpt)", "fbgemm_fp8": "FP8", "awq": "AWQ 4-bit",
                "gptq": "GPTQ", "compressed-tensors": "compressed-tensors"}
# Lowest compute capability of each weight-quantization kernel (its get_min_capability()):
# the AWQ GEMM needs Turing, the Marlin kernels Ampere; V100 owners run GPTQ or bitsandbytes.
QUANT_MIN_CAPABILITY = {"awq": (7, 5), "awq_marlin": (8, 0), "gptq_marlin": (8, 0), "marlin": (8, 0),
                        "mxfp4": (8, 0), "bitsandbytes": (7, 0), "gptq": (6, 0)}


def valid_tensor_parallel(facts: ModelFacts, tp: int) -> bool:
    if facts.num_attention_heads % tp:
        return False
    if facts.mla is not None:
        return True
    kv_heads = facts.num_kv_heads
    return tp % kv_heads == 0 if tp >= kv_heads else kv_heads % tp == 0


def plan_deployment(req: PlanRequest) -> Plan:
    rules = rules_for(req.vllm_version)
    facts, gpu = req.model, req.gpu
    total = gpu.memory_bytes
    choices: list[Choice] = []
    warnings: list[str] = []
    invalid: list[tuple[str, list[str]]] = []

    dtype = _resolve_dtype(req, rules, facts, gpu, choices, warnings, invalid)
    dtype_bytes = 4 if dtype == "float32" else 2
    quant = req.quantization or (facts.quantization.method if facts.quantization else None)
    unsupported = _kernel_unsupported(quant, gpu)
    if unsupported:
        invalid.append(unsupported)
    if req.kv_cache_dtype in kv.FP8_KV and not _fp8_kv_supported(gpu):
        invalid.append((f"kv_cache_dtype {req.kv_cache_dtype} cannot run on the {gpu.name} (compute capability "
                        f"{_cc(gpu)}): vLLM's attention backends need 8.0 or newer for an fp8 KV cache",
                        ["kv_cache_dtype: auto"]))

    model_max = facts.max_position_embeddings
    if req.max_model_len is not None and req.max_model_len > model_max and not req.allow_long_max_model_len:
        invalid.append((f"User-specified max_model_len ({req.max_model_len}) is greater than the derived max_model_len "
                        f"(max_position_embeddings={model_max}) of {facts.model_id}",
                        [f"max_model_len: {model_max}",
                         "set VLLM_ALLOW_LONG_MAX_MODEL_LEN=1 only if the model's rope scaling supports it"]))

    pp = req.pipeline_parallel_size
    candidates = _tp_candidates(req, facts, pp, invalid)
    length = req.max_model_len or model_max
    base = _base_layout(req, rules, facts, gpu, dtype_bytes, length, candidates[0] if candidates else 1, pp)

    if invalid or not candidates:
        ev = evaluate(facts, gpu, total, rules, base)
        reasons = [r for r, _ in invalid]
        fixes = [f for _, fs in invalid for f in fs]
        return _to_plan(req, rules, ev, "invalid", reasons, fixes, choices, warnings, dtype, quant, goal_met=False)

    if req.mode == "predict":
        ev = evaluate(facts, gpu, total, rules, base)
        if req.auto_fit_max_model_len:
            ev = _auto_fit(facts, gpu, total, rules, ev, warnings)
        return _finish(req, rules, facts, gpu, ev, choices, warnings, dtype, quant, candidates)

    # Compile: the smallest TP that starts and holds the concurrency goal, then fp8 KV if allowed.
    layouts = [_retarget(req, rules, facts, gpu, base, tp) for tp in candidates]
    evaluations = [evaluate(facts, gpu, total, rules, lay) for lay in layouts]
    chosen = next((ev for ev in evaluations if _meets(ev, req.concurrency)), None)
    if chosen is None and req.kv_cache_dtype == "auto" and _fp8_kv_supported(gpu) and facts.mla is None:
        fp8 = [evaluate(facts, gpu, total, rules, dataclasses.replace(lay, kv_cache_dtype="fp8")) for lay in layouts]
        chosen = next((ev for ev in fp8 if _meets(ev, req.concurrency)), None)
        if chosen is not None:
            choices.append(Choice("kv_cache_dtype", "fp8",
                                  "a 16-bit KV cache cannot hold the workload on these GPUs; fp8 halves its size"))
    if chosen is None and req.max_model_len is None:
        # No length asked for: serve the model's maximum clamped to what fits the goal.
        chosen = _clamp_length(facts, gpu, total, rules, layouts[-1], req.concurrency)
        if chosen is not None:
            warnings.append(f"max_model_len clamped from the model's maximum {model_max} to {chosen.layout.max_model_len} "
                            f"so that {req.concurrency} request(s) of that length fit the KV cache")
    if chosen is None:
        ok = [ev for ev in evaluations if ev.verdict == "ok"]
        chosen = max(ok, key=lambda ev: ev.capacity.max_concurrency) if ok else evaluations[-1]
    _record_choices(req, rules, chosen, choices)
    return _finish(req, rules, facts, gpu, chosen, choices, warnings, dtype, quant, candidates)


# --------------------------------------------------------------------------------------------

def _cc(gpu: GpuFacts) -> str:
    return f"{gpu.compute_capability[0]}.{gpu.compute_capability[1]}"


def _fp8_kv_supported(gpu: GpuFacts) -> bool:
    if gpu.vendor == "amd":
        return gpu.fp8
    return gpu.compute_capability >= (8, 0)


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
            warnings.append(message + "; this release falls back to float16")
            return "float16"
        invalid.append((message, ["dtype: float16 (--dtype half)"]))
    return dtype


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
            invalid.append(("Prequant BitsAndBytes models with tensor parallelism is not supported. "
                            "Please try with pipeline parallelism.",
                            [f"tensor_parallel_size: 1 with pipeline_parallel_size: {tp * pp}",
                             "the 16-bit checkpoint with quantization: bitsandbytes (quantized at load, "
                             "which tensor parallelism supports)"]))
            return []
        if not valid_tensor_parallel(facts, tp):
            valid = [t for t in range(1, max(2 * tp, 9)) if valid_tensor_parallel(facts, t)]
            nearest = sorted(valid, key=lambda t: (abs(t - tp), t))[:2]
            if heads % tp:
                reason = f"Total number of attention heads ({heads}) must be divisible by tensor parallel size ({tp})"
            else:
                reason = (f"tensor parallel size {tp} does not split the {facts.num_kv_heads} KV heads evenly "
                          f"(one must divide the other)")
            invalid.append((reason, [f"tensor_parallel_size: {t}" for t in nearest]))
            return []
        dp = req.data_parallel_size
        if req.mode == "compile" and tp * pp * dp > req.gpu_count:
            replicas = f" x data_parallel_size {dp}" if dp > 1 else ""
            invalid.append((f"tensor_parallel_size {tp} x pipeline_parallel_size {pp}{replicas} needs {tp * pp * dp} "
                            f"GPUs; hardware.count gives {req.gpu_count}", [f"hardware.count: {tp * pp * dp}"]))
            return []
        return [tp]
    limit = 1 if _prequantized_bnb(facts) else max(1, req.gpu_count // (pp * req.data_parallel_size))
    found = [t for t in range(1, limit + 1) if valid_tensor_parallel(facts, t)]
    replicas = pp * req.data_parallel_size
    if req.mode == "compile" and replicas > req.gpu_count:
        what = f"pipeline_parallel_size {pp}" + (f" x data_parallel_size {req.data_parallel_size}"
                                                 if req.data_parallel_size > 1 else "")
        invalid.append((f"{what} needs at least {replicas} GPUs; hardware.count gives {req.gpu_count}",
                        [f"hardware.count: {replicas}"]))
        return []
    return found or [1]


def _base_layout(req, rules, facts, gpu, dtype_bytes, length, tp, pp) -> Layout:
    batch = batch_defaults(rules, gpu.name, gpu.memory_bytes, length, facts.mla is not None)
    block, _ = default_block_size(rules, gpu.compute_capability, facts.mla is not None)
    seqs = req.max_num_seqs or (max(batch.max_num_seqs, req.concurrency) if req.mode == "compile" else batch.max_num_seqs)
    tokens = req.max_num_batched_tokens or batch.max_num_batched_tokens
    util = req.gpu_memory_utilization or rules.default_utilization
    return Layout(tp=tp, pp=pp, utilization=util, max_model_len=length, kv_cache_dtype=req.kv_cache_dtype,
                  max_num_seqs=seqs, max_num_batched_tokens=tokens, block_size=req.block_size or block,
                  enforce_eager=req.enforce_eager, expert_parallel=req.enable_expert_parallel,
                  dtype_bytes=dtype_bytes, hybrid=rules.hybrid_kv_manager and not req.disable_hybrid_kv_cache_manager,
                  kv_cache_memory_bytes=req.kv_cache_memory_bytes, other_tenants_bytes=req.other_tenants_bytes,
                  cpu_offload_bytes=req.cpu_offload_bytes, max_loras=req.max_loras,
                  max_lora_rank=req.max_lora_rank, dp=req.data_parallel_size)


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
        warnings.append(f"Auto-fit max_model_len: reduced from {ev.layout.max_model_len} to {ev.largest_fitting_len} "
                        f"to fit in available GPU memory ({available / GIB:.2f} GiB available for KV cache)")
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


def _record_choices(req: PlanRequest, rules: ReleaseRules, ev: Evaluation, choices: list[Choice]) -> None:
    lay = ev.layout
    if req.tensor_parallel_size is None:
        reason = ("one GPU holds the model and the workload" if lay.tp == 1 else
                  f"the smallest tensor-parallel size that divides the {req.model.num_attention_heads} attention heads, "
                  f"fits the weights and holds {req.concurrency} request(s) of {lay.max_model_len} tokens")
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
    if req.max_num_seqs is None:
        choices.append(Choice("max_num_seqs", lay.max_num_seqs,
                              "vLLM's default batch size for this GPU" if lay.max_num_seqs >= req.concurrency
                              else "raised to the workload's concurrency"))
    if req.max_num_batched_tokens is None:
        choices.append(Choice("max_num_batched_tokens", lay.max_num_batched_tokens,
                              "vLLM's default for this GPU and release (drives the activation peak)"))


def _finish(req, rules, facts, gpu, ev: Evaluation, choices, warnings, dtype, quant, candidates) -> Plan:
    reasons = list(ev.reasons)
    fixes = _fixes(req, rules, facts, gpu, ev, candidates) if ev.verdict != "ok" else []
    goal_met = ev.verdict == "ok" and ev.capacity.max_concurrency >= req.concurrency
    if ev.verdict == "ok" and not goal_met and req.mode == "compile":
        reasons.append(f"the KV cache holds {ev.capacity.max_concurrency:.2f} request(s) of {ev.layout.max_model_len} "
                       f"tokens; workload.concurrency asks for {req.concurrency}")
        fixes = _fixes(req, rules, facts, gpu, ev, candidates, goal=req.concurrency)
    return _to_plan(req, rules, ev, ev.verdict, reasons, fixes, choices, warnings, dtype, quant, goal_met)


def _fixes(req, rules, facts, gpu, ev: Evaluation, candidates, goal: int = 1) -> list[str]:
    """Concrete changes that would make this start (and meet `goal`), most direct first."""
    lay, total = ev.layout, gpu.memory_bytes
    fixes: list[str] = []

    def works(layout: Layout) -> bool:
        return _meets(evaluate(facts, gpu, total, rules, layout), goal)

    if ev.verdict == "kv_too_small" and goal == 1 and ev.largest_fitting_len > 0:
        fixes.append(f"max_model_len: {ev.largest_fitting_len}")
    elif ev.verdict == "kv_too_small" and ev.capacity.tokens and goal == 1:
        fixes.append(f"max_model_len: {ev.capacity.tokens - ev.capacity.tokens % lay.block_size}")
    if ev.verdict in ("kv_too_small", "ok") and lay.kv_cache_dtype == "auto" and _fp8_kv_supported(gpu) \
            and facts.mla is None and works(dataclasses.replace(lay, kv_cache_dtype="fp8")):
        fixes.append("kv_cache_dtype: fp8")
    if ev.verdict == "invalid":
        # Memory outside vLLM's budget (CUDA context, graphs, other tenants) does not fit next to
        # util x total: the largest lower utilization that still starts, or no CUDA graphs.
        for step in range(int(round(lay.utilization * 100)) - 1, 49, -1):
            if works(dataclasses.replace(lay, utilization=step / 100)):
                fixes.append(f"gpu_memory_utilization: {step / 100}")
                break
        if not lay.enforce_eager and works(dataclasses.replace(lay, enforce_eager=True)):
            fixes.append("enforce_eager: true (no CUDA graphs to capture)")
    if ev.verdict not in ("weights_do_not_fit", "invalid"):
        for util in (0.90, 0.92, 0.95):
            if util > lay.utilization and works(dataclasses.replace(lay, utilization=util)):
                fixes.append(f"gpu_memory_utilization: {util}")
                break
    if _prequantized_bnb(facts):
        # Tensor parallelism is refused for these checkpoints; pipeline stages split them.
        for pp in range(lay.pp + 1, min(facts.num_layers, 16) + 1):
            if works(dataclasses.replace(lay, pp=pp)):
                need = lay.tp * pp * lay.dp
                more = "" if need <= req.gpu_count else f" (needs hardware.count: {need})"
                fixes.append(f"pipeline_parallel_size: {pp}{more}")
                break
    for tp in range(lay.tp + 1, 1 if _prequantized_bnb(facts) else 65):
        if not valid_tensor_parallel(facts, tp):
            continue
        need = tp * lay.pp * lay.dp
        more = "" if need <= req.gpu_count else f" (needs hardware.count: {need})"
        wider = evaluate(facts, gpu, total, rules, dataclasses.replace(lay, tp=tp))
        if _meets(wider, goal):
            fixes.append(f"tensor_parallel_size: {tp}{more}")
            break
        if wider.verdict == "kv_too_small" and goal == 1 and wider.largest_fitting_len > 0:
            # The weights fit at this size; only the context does not: say both changes.
            fixes.append(f"tensor_parallel_size: {tp}{more} with max_model_len: {wider.largest_fitting_len}")
            break
    if ev.verdict == "no_kv_memory" and lay.max_num_batched_tokens > 2048 \
            and works(dataclasses.replace(lay, max_num_batched_tokens=2048, max_num_seqs=min(lay.max_num_seqs, 256))):
        fixes.append("max_num_batched_tokens: 2048 (a smaller profiling batch lowers the activation peak)")
    if goal > 1 and ev.verdict == "ok":
        length = _clamp_length(facts, gpu, total, rules, lay, goal)
        if length is not None:
            fixes.append(f"max_model_len: {length.layout.max_model_len}")
        fixes.append(f"workload.concurrency: {max(1, int(ev.capacity.max_concurrency))}")
    if ev.verdict in ("weights_do_not_fit", "no_kv_memory", "kv_too_small") or (goal > 1 and ev.verdict == "ok"):
        for variant in facts.lighter_variants:
            if _kernel_unsupported(variant.quantization.method, gpu):
                continue
            lighter = evaluate(variant, gpu, total, rules, lay)
            if _meets(lighter, goal):
                q = variant.quantization
                kind = QUANT_LABELS.get(q.method, f"{q.bits}-bit {q.method}" if q.bits else q.method)
                fixes.append(f"model.id: {variant.model_id} (its {kind} checkpoint: "
                             f"{_heaviest_weights(lighter) / GIB:.1f} GiB of weights per GPU instead of "
                             f"{_heaviest_weights(ev) / GIB:.1f})")
                break
    if ev.verdict in ("weights_do_not_fit", "no_kv_memory") and not facts.quantization:
        four_bit = _four_bit_weights(facts)
        fixes.append(f"a 4-bit (AWQ or GPTQ) checkpoint of {facts.model_id}: "
                     f"about {four_bit / GIB:.1f} GiB of weights in all instead of {facts.weight_bytes / GIB:.1f}")
    if ev.verdict == "weights_do_not_fit":
        fixes.append("a GPU with more memory")
    return fixes


def _heaviest_weights(ev: Evaluation) -> int:
    return max(r.weights_bytes for r in ev.ranks)


def _kernel_unsupported(method: str | None, gpu: GpuFacts) -> tuple[str, list[str]] | None:
    """(vLLM's reason, fixes) when the GPU cannot run this weight-quantization kernel, else None."""
    if gpu.vendor != "nvidia" or method is None:
        return None
    if method in FP8_WEIGHT_METHODS and gpu.compute_capability < (8, 0):
        return (f"FP8 weights need compute capability 8.0 or newer; the {gpu.name} has {_cc(gpu)}",
                ["a 16-bit or AWQ/GPTQ checkpoint of this model", "a GPU such as L4, L40S or H100"])
    needed = QUANT_MIN_CAPABILITY.get(method)
    if needed is None or gpu.compute_capability >= needed:
        return None
    fixes = [] if method == "gptq" else ["a GPTQ checkpoint of this model (vLLM's gptq kernel runs from compute "
                                         "capability 6.0)"]
    fixes.append(f"a GPU with compute capability {needed[0]}.{needed[1]} or newer, such as "
                 + ("T4, A10 or L4" if needed < (8, 0) else "A10, L4 or A100"))
    return (f"The quantization method {method} is not supported for the current GPU. Minimum capability: "
            f"{needed[0]}{needed[1]}. Current capability: {gpu.compute_capability[0]}{gpu.compute_capability[1]}.",
            fixes)


def _four_bit_weights(facts: ModelFacts) -> int:
    rows = facts.vocab_size * (facts.embedding_bytes_per_row + (0 if facts.tie_word_embeddings else facts.lm_head_bytes_per_row))
    linear = max(0, facts.weight_bytes - rows)
    return int(linear * 0.53 / 2 + rows)


def _to_plan(req, rules, ev: Evaluation, verdict, reasons, fixes, choices, warnings, dtype, quant, goal_met) -> Plan:
    lay = ev.layout
    return Plan(
        vllm_version=req.vllm_version, engine=rules.engine, tensor_parallel_size=lay.tp,
        pipeline_parallel_size=lay.pp, max_model_len=lay.max_model_len, gpu_memory_utilization=lay.utilization,
        block_size=lay.block_size, per_gpu=ev.ledger, kv_cache_tokens=max(0, ev.capacity.tokens),
        max_concurrency=round(max(0.0, ev.capacity.max_concurrency), 2), verdict=verdict, reasons=tuple(reasons),
        fixes=tuple(dict.fromkeys(fixes)), dtype=dtype, kv_cache_dtype=lay.kv_cache_dtype,
        max_num_seqs=lay.max_num_seqs, max_num_batched_tokens=lay.max_num_batched_tokens,
        enforce_eager=lay.enforce_eager, enable_expert_parallel=lay.expert_parallel, quantization=quant,
        num_gpu_blocks=ev.capacity.num_blocks, choices=tuple(choices), warnings=tuple(warnings), ranks=ev.ranks,
        data_parallel_size=req.data_parallel_size,
        headroom_needed_bytes=ev.headroom_needed, goal_met=goal_met, kv_cache_memory_bytes=lay.kv_cache_memory_bytes)
