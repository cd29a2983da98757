"""Fixes: spec changes that make a failing plan start and meet its goal, each checked by planning
the patched request again. Only changes whose re-plan is `ok` are offered.

A candidate names the spec keys it sets and its cost class; offered fixes are ranked by cost
class, then by the GPUs the re-planned deployment takes (fewest first), then by their memory
(smallest first), then in the order they were proposed:

  knobs     engine knobs that keep the model's outputs: utilization, eager mode, batch limits,
            parallel sizes within the GPUs the spec has
  workload  serve less than asked: a shorter max_model_len or a lower concurrency
  outputs   knobs that change what the model computes: an fp8 KV cache, a quantized checkpoint,
            another dtype
  gpus      more GPUs of the same type (hardware.count)
  gpu type  another catalog GPU (hardware.gpu)
"""
from __future__ import annotations

import dataclasses
from vllm_compile.fastclass import dataclass
from typing import Callable

from vllm_compile.ir.plan import Fix, Plan, PlanRequest
from vllm_compile.plan.memory import GIB, Evaluation, Layout, evaluate
from vllm_compile.plan.releases import ReleaseRules

COST_KNOBS, COST_WORKLOAD, COST_OUTPUTS, COST_GPUS, COST_GPU_TYPE = range(5)
FP8_KV_SUMMARY = "fp8 KV cache: halves KV memory; may change outputs slightly"
SPARSE_FP8_KV_SUMMARY = ("fp8 KV cache, stored as fp8_ds_mla: 656 instead of 1,152 bytes per token and layer for "
                         "the latent; may change outputs slightly")
# GPU counts a GPU fix tries per catalog type; more than one node's worth is another conversation.
GPU_FIX_COUNTS = (1, 2, 4, 8)
GPU_FIXES_OFFERED = 3

# Spec keys a fix may set, and the PlanRequest field each one becomes.
REQUEST_FIELDS = {
    "engine.tensor_parallel_size": "tensor_parallel_size",
    "engine.pipeline_parallel_size": "pipeline_parallel_size",
    "engine.gpu_memory_utilization": "gpu_memory_utilization",
    "engine.kv_cache_dtype": "kv_cache_dtype",
    "engine.enforce_eager": "enforce_eager",
    "engine.max_num_batched_tokens": "max_num_batched_tokens",
    "engine.max_num_seqs": "max_num_seqs",
    "workload.max_model_len": "max_model_len",
    "workload.concurrency": "concurrency",
    "hardware.count": "gpu_count",
    "model.dtype": "dtype",
    "engine.version": "vllm_version",
}

Replan = Callable[[PlanRequest], Plan]


@dataclass(frozen=True, slots=True)
class Candidate:
    settings: tuple[tuple[str, object], ...]
    summary: str
    cost: int = COST_KNOBS

    @classmethod
    def of(cls, settings: dict[str, object], summary: str, cost: int = COST_KNOBS) -> "Candidate":
        return cls(tuple(settings.items()), summary, cost)


def patched(req: PlanRequest, settings) -> PlanRequest | None:
    """The request as the patched spec would give it (None when a key is not one a fix sets)."""
    changes: dict[str, object] = {}
    for key, value in settings:
        if key in REQUEST_FIELDS:
            changes[REQUEST_FIELDS[key]] = value
        elif key == "hardware.gpu":
            gpu = next((g for g in req.alternative_gpus if g.name == value), None)
            if gpu is None:
                return None
            changes["gpu"] = gpu
        elif key == "model.id":
            variant = next((v for v in req.model.lighter_variants if v.model_id == value), None)
            if variant is None:
                return None
            changes["model"] = variant
        else:
            return None
    out = dataclasses.replace(req, propose_fixes=False, **changes)  # type: ignore[arg-type]
    if req.mode == "predict":
        # A command line takes as many GPUs as its parallel sizes ask for.
        out = dataclasses.replace(out, gpu_count=(out.tensor_parallel_size or 1) * out.pipeline_parallel_size
                                  * out.data_parallel_size)
    return out


def verified(req: PlanRequest, candidates: list[Candidate], replan: Replan) -> list[Fix]:
    """The candidates whose patched request plans `ok`, ranked (module docstring), without repeats."""
    ranked, seen, moved_to = [], set(), set()
    for order, candidate in enumerate(candidates):
        values = dict(candidate.settings)
        # GPU-type candidates come fewest GPUs first: the first that works is that type's fix.
        if candidate.settings in seen or values.get("hardware.gpu") in moved_to:
            continue
        seen.add(candidate.settings)
        if not req.hardware_fixes and any(k.startswith("hardware.") for k, _ in candidate.settings):
            continue
        request = patched(req, candidate.settings)
        if request is None:
            continue
        plan = replan(request)
        if plan.verdict != "ok":
            continue
        if "hardware.gpu" in values:
            moved_to.add(values["hardware.gpu"])
        fix = Fix(candidate.settings, candidate.summary, plan.verdict, plan.max_concurrency)
        ranked.append(((candidate.cost, plan.gpus, request.gpu.memory_bytes, order), fix))
    ranked.sort(key=lambda item: item[0])
    return _limit_gpu_fixes([fix for _, fix in ranked])


def memory_candidates(req: PlanRequest, rules: ReleaseRules, ev: Evaluation, verdict: str) -> list[Candidate]:
    """Changes that may make this layout start and hold the goal, most direct first."""
    from vllm_compile.plan import QUANT_LABELS, _clamp_length, _kernel_unsupported, _meets, _prequantized_bnb, \
        valid_tensor_parallel

    facts, gpu, lay, total = req.model, req.gpu, ev.layout, req.gpu.memory_bytes
    goal = req.concurrency if req.mode == "compile" else 1
    compile_mode = req.mode == "compile"
    out: list[Candidate] = []

    def works(layout: Layout) -> bool:
        return _meets(evaluate(facts, gpu, total, rules, layout), goal)

    def gpus_for(tp: int, pp: int) -> dict[str, object]:
        need = tp * pp * lay.dp
        return {"hardware.count": need} if compile_mode and need > req.gpu_count else {}

    def gpu_cost(tp: int, pp: int) -> int:
        return COST_GPUS if tp * pp * lay.dp > max(req.gpu_count, lay.tp * lay.pp * lay.dp) else COST_KNOBS

    # Engine knobs that keep the model's outputs.
    if verdict == "invalid" and any(layer.attention == "mamba" for layer in facts.layers):
        # Hybrid models: every running sequence holds its own state blocks, so max_num_seqs is the
        # lever on state memory ("max_num_seqs (N) exceeds available Mamba cache blocks (M)").
        seqs = ev.capacity.num_blocks // max(1, rules.mamba_state_blocks)
        while seqs >= 1 and not works(dataclasses.replace(lay, max_num_seqs=seqs)):
            seqs = seqs * 9 // 10 if seqs > 10 else seqs - 1
        if seqs >= 1:
            out.append(Candidate.of({"engine.max_num_seqs": seqs},
                                    "as many running sequences as the recurrent layers have state blocks for"))
    if verdict == "invalid":
        # Memory outside vLLM's budget (CUDA context, graphs, other tenants) does not fit next to
        # util x total: the largest lower utilization that still starts, or no CUDA graphs.
        for step in range(int(round(lay.utilization * 100)) - 1, 49, -1):
            if works(dataclasses.replace(lay, utilization=step / 100)):
                out.append(Candidate.of({"engine.gpu_memory_utilization": step / 100},
                                        "leave room outside vLLM's budget for the CUDA context and graphs"))
                break
    if not lay.enforce_eager and works(dataclasses.replace(lay, enforce_eager=True)):
        out.append(Candidate.of({"engine.enforce_eager": True}, "no CUDA graphs to capture, so none of their memory; "
                                                                "decoding is slower"))
    if verdict not in ("weights_do_not_fit", "invalid"):
        for util in (0.90, 0.92, 0.95):
            if util > lay.utilization and works(dataclasses.replace(lay, utilization=util)):
                out.append(Candidate.of({"engine.gpu_memory_utilization": util},
                                        f"give vLLM {util:.0%} of each GPU instead of {lay.utilization:.0%}"))
                break
    if verdict == "no_kv_memory" and lay.max_num_batched_tokens > 2048 \
            and works(dataclasses.replace(lay, max_num_batched_tokens=2048, max_num_seqs=min(lay.max_num_seqs, 256))):
        out.append(Candidate.of({"engine.max_num_batched_tokens": 2048},
                                "a smaller profiling batch lowers the activation peak"))
    bnb = _prequantized_bnb(facts)
    if bnb:
        # Tensor parallelism is refused for these checkpoints; pipeline stages split them.
        for pp in range(lay.pp + 1, min(facts.num_layers, 16) + 1):
            if works(dataclasses.replace(lay, pp=pp)):
                more = gpus_for(lay.tp, pp)
                out.append(Candidate.of({**more, "engine.pipeline_parallel_size": pp},
                                        f"{pp} pipeline stages split the layers", gpu_cost(lay.tp, pp)))
                break
    shortened = False
    for tp in range(lay.tp + 1, 1 if bnb else 65):
        if not valid_tensor_parallel(facts, tp):
            continue
        wider = evaluate(facts, gpu, total, rules, dataclasses.replace(lay, tp=tp))
        more = gpus_for(tp, lay.pp)
        cost = gpu_cost(tp, lay.pp)
        if _meets(wider, goal):
            out.append(Candidate.of({**more, "engine.tensor_parallel_size": tp},
                                    f"split the model over {tp} GPUs", cost))
            break
        if wider.verdict == "invalid" and not lay.enforce_eager \
                and works(dataclasses.replace(lay, tp=tp, enforce_eager=True)):
            # The weights fit at this size but the CUDA graphs do not fit outside vLLM's budget.
            out.append(Candidate.of({**more, "engine.tensor_parallel_size": tp, "engine.enforce_eager": True},
                                    f"split the model over {tp} GPUs, without CUDA graphs (decoding is slower)", cost))
            break
        if wider.verdict == "kv_too_small" and goal == 1 and wider.largest_fitting_len > 0 and not shortened:
            # The weights fit at this size; only the context does not: both changes together, and
            # the search goes on for a size that needs no shorter context.
            out.append(Candidate.of({**more, "engine.tensor_parallel_size": tp,
                                     "workload.max_model_len": wider.largest_fitting_len},
                                    f"split the model over {tp} GPUs and shorten the context to what fits",
                                    max(cost, COST_WORKLOAD)))
            shortened = True

    # Serve less than asked.
    if verdict == "kv_too_small" and ev.largest_fitting_len > 0:
        out.append(Candidate.of({"workload.max_model_len": ev.largest_fitting_len},
                                "the longest context one request can have in this KV cache", COST_WORKLOAD))
    if verdict == "goal_not_met":
        clamped = _clamp_length(facts, gpu, total, rules, lay, goal)
        if clamped is not None:
            out.append(Candidate.of({"workload.max_model_len": clamped.layout.max_model_len},
                                    f"the longest context at which {goal} request(s) fit", COST_WORKLOAD))
        if ev.capacity.max_concurrency >= 1:
            out.append(Candidate.of({"workload.concurrency": int(ev.capacity.max_concurrency)},
                                    "the requests of this length that fit", COST_WORKLOAD))

    # Knobs that change the model's outputs: offered, never chosen by the planner.
    # Sparse MLA: fp8 is the packed fp8_ds_mla (656 bytes a token and layer instead of 1,152); where
    # the release packs auto already, an fp8 fix would change nothing.
    sparse = facts.mla is not None and facts.mla.sparse
    if (verdict in ("kv_too_small", "goal_not_met", "no_kv_memory") and lay.kv_cache_dtype == "auto"
            and not (sparse and rules.sparse_mla_auto_fp8)):
        from vllm_compile.plan.attention import kv_dtype_refusal

        if kv_dtype_refusal("fp8", facts, gpu, rules.engine) is None:
            out.append(Candidate.of({"engine.kv_cache_dtype": "fp8"}, SPARSE_FP8_KV_SUMMARY if sparse else
                                    FP8_KV_SUMMARY, COST_OUTPUTS))
    if verdict in ("weights_do_not_fit", "no_kv_memory", "kv_too_small", "goal_not_met"):
        for variant in facts.lighter_variants:
            q = variant.quantization
            if q is None or _kernel_unsupported(q.method, gpu):
                continue
            kind = QUANT_LABELS.get(q.method, f"{q.bits}-bit {q.method}" if q.bits else q.method)
            lighter = evaluate(variant, gpu, total, rules, lay)
            out.append(Candidate.of({"model.id": variant.model_id},
                                    f"its {kind} checkpoint: {_heaviest(lighter) / GIB:.1f} GiB of weights per GPU "
                                    f"instead of {_heaviest(ev) / GIB:.1f}; may change outputs slightly", COST_OUTPUTS))
    if verdict in ("weights_do_not_fit", "no_kv_memory", "kv_too_small", "goal_not_met"):
        out += gpu_candidates(req, ev)
    return out


def gpu_candidates(req: PlanRequest, ev: Evaluation) -> list[Candidate]:
    """Other catalog GPUs of the same vendor: per type, the fewest GPUs (of GPU_FIX_COUNTS) whose
    memory could hold the weights; the re-plan decides whether the rest fits too."""
    from vllm_compile.plan import valid_tensor_parallel

    facts, lay = req.model, ev.layout
    weights = facts.weight_bytes
    out = []
    for gpu in sorted(req.alternative_gpus, key=lambda g: (g.memory_bytes, g.name)):
        if gpu.vendor != req.gpu.vendor or gpu.name == req.gpu.name:
            continue
        for count in GPU_FIX_COUNTS:
            tp = count // (lay.pp * lay.dp)
            if tp < 1 or tp * lay.pp * lay.dp != count or not valid_tensor_parallel(facts, tp):
                continue
            if weights / count > gpu.memory_bytes * 0.95:
                continue
            settings: dict[str, object] = {"hardware.gpu": gpu.name}
            if req.mode == "compile" and count != req.gpu_count:
                settings["hardware.count"] = count
            if req.tensor_parallel_size is not None and tp != lay.tp:
                settings["engine.tensor_parallel_size"] = tp
            out.append(Candidate.of(settings, f"{count} x {gpu.name} ({gpu.memory_bytes / GIB:.0f} GiB each)",
                                    COST_GPU_TYPE))
    return out


def _limit_gpu_fixes(found: list[Fix]) -> list[Fix]:
    """Keep the first GPU_FIXES_OFFERED fixes that change the GPU type (already ranked)."""
    kept, gpu_fixes = [], 0
    for fix in found:
        if any(k == "hardware.gpu" for k, _ in fix.settings):
            gpu_fixes += 1
            if gpu_fixes > GPU_FIXES_OFFERED:
                continue
        kept.append(fix)
    return kept


def _heaviest(ev: Evaluation) -> int:
    return max(r.weights_bytes for r in ev.ranks)
