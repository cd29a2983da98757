"""Plan every deployment of a spec against the host's GPUs.

Deployments get disjoint whole GPUs, in the order they are written: pinned `device_ids` first
(one deployment), otherwise the next free GPUs, named by UUID when the hardware facts know it.
A plan that would not start is refused here with vLLM's reason and the ranked fixes.
"""
from __future__ import annotations

from vllm_compile.diagnostics import CompileError, Diagnostic
from vllm_compile.ir.plan import Plan, PlanRequest
from vllm_compile.plan import plan_deployment

VERDICT_KEYS = {
    "weights_do_not_fit": "engine.tensor_parallel_size",
    "no_kv_memory": "engine.gpu_memory_utilization",
    "kv_too_small": "workload.max_model_len",
}


def request_for(dep, facts, gpu, gpu_count: int) -> PlanRequest:
    engine, workload = dep.engine, dep.workload
    extra = set(a.split("=", 1)[0].replace("_", "-") for a in engine.extra_args)
    return PlanRequest(
        vllm_version=engine.version, model=facts, gpu=gpu, gpu_count=gpu_count, mode="compile",
        max_model_len=workload.max_model_len, concurrency=workload.concurrency,
        tensor_parallel_size=engine.tensor_parallel_size, pipeline_parallel_size=engine.pipeline_parallel_size,
        gpu_memory_utilization=engine.gpu_memory_utilization, kv_cache_dtype=engine.kv_cache_dtype,
        max_num_seqs=engine.max_num_seqs, max_num_batched_tokens=engine.max_num_batched_tokens,
        block_size=engine.block_size, enforce_eager=engine.enforce_eager,
        enable_expert_parallel=engine.enable_expert_parallel, dtype=dep.model.dtype,
        quantization=dep.model.quantization,
        disable_hybrid_kv_cache_manager="--disable-hybrid-kv-cache-manager" in extra)


def plan_host(spec, models, hardware, allow_failure: bool = False):
    source = spec.source
    gpus = hardware.gpus
    pinned = spec.hardware.device_ids
    free = list(range(len(gpus)))
    plans: list[Plan] = []
    devices: list = []
    errors: list[Diagnostic] = []
    notes: list[Diagnostic] = []
    types = {g.gpu.name for g in gpus}
    if len(types) > 1 and not spec.multi:
        errors.append(source.error("hardware", "tensor parallelism across different GPU types is not supported: vLLM "
                                   "uses one gpu_memory_utilization for all ranks", found=", ".join(sorted(types)),
                                   fix="give the deployment GPUs of one type"))
    for dep_index, dep in enumerate(spec.deployments):
        prefix = dep.key_prefix
        available = len(free) if spec.multi else len(gpus)
        req = request_for(dep.spec, models[dep_index], gpus[free[0]].gpu if free else gpus[0].gpu, max(available, 1))
        plan = plan_deployment(req)
        plans.append(plan)
        need = plan.gpus
        if need > len(free):
            errors.append(source.error(
                prefix + "engine.tensor_parallel_size",
                f"deployment '{dep.spec.name}' needs {need} GPU(s) but only {len(free)} of the host's {len(gpus)} are left",
                fix=f"hardware.count: {len(gpus) - len(free) + need}" if spec.multi else f"hardware.count: {need}"))
            devices.append(None)
            continue
        taken = free[:need]
        free = free[need:]
        if pinned is not None and not spec.multi:
            devices.append(tuple(pinned[:need]))
        elif spec.multi:
            devices.append(tuple(gpus[i].uuid or str(gpus[i].index) for i in taken))
        else:
            devices.append(None)
        if plan.verdict != "ok" or not plan.goal_met:
            for w in plan.warnings:
                notes.append(source.warning(prefix + "engine", w))
            if not allow_failure:
                errors.append(_failure(source, prefix, dep.spec, plan))
        else:
            notes.extend(source.warning(prefix + "engine", w) for w in plan.warnings)
    if errors:
        raise CompileError(errors)
    return tuple(plans), tuple(devices), tuple(notes)


def _failure(source, prefix: str, dep, plan: Plan) -> Diagnostic:
    if plan.verdict == "invalid":
        text = " ".join(plan.reasons)
        key = ("engine.tensor_parallel_size" if "tensor parallel" in text or "GPUs" in text else
               "workload.max_model_len" if "max_model_len" in text else
               "engine.kv_cache_dtype" if "kv_cache_dtype" in text else
               "model.dtype" if "float16" in text or "Bfloat16" in text else "hardware.gpu")
    elif plan.verdict == "ok":
        key = "workload.concurrency"
    else:
        key = VERDICT_KEYS[plan.verdict]
    headline = {"invalid": "vLLM would refuse this configuration",
                "weights_do_not_fit": "the model's weights do not fit on the GPUs",
                "no_kv_memory": "vLLM would fail at start-up: no memory left for the KV cache",
                "kv_too_small": "vLLM would fail at start-up: the KV cache cannot hold one max_model_len request",
                "ok": "the KV cache does not hold the workload"}[plan.verdict]
    fixes = "; or ".join(plan.fixes) if plan.fixes else "see `vllm-compile explain` for the ledger"
    return source.error(prefix + key, f"{headline}: {' '.join(plan.reasons)}", fix=fixes)
