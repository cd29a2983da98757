"""Plan every deployment of a spec and give each its GPUs on the host.

Deployments are placed in the order they are written. Each is planned once per GPU type of the
host and goes to the type where it starts and serves its workload on the least memory (a mixed
host never splits one deployment across types). By default a deployment takes whole free GPUs;
with `hardware.share_gpus`, one that needs a single GPU is packed first-fit onto GPUs of its type
with the smallest gpu_memory_utilization that serves its workload, and every later tenant of a
GPU is planned knowing what the earlier ones hold, as vLLM's start-up free-memory check sees it.
GPUs are named by UUID when the hardware facts know it, else by index.
"""
from __future__ import annotations

import dataclasses
from dataclasses import field
from vllm_compile.fastclass import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the code table stays unloaded unless printed
    from vllm_compile.codes import Code
from vllm_compile.diagnostics import CompileError, Diagnostic, SourceMap
from vllm_compile.ir.facts import HostGpu
from vllm_compile.ir.plan import Choice, Note, Plan, PlanRequest
from vllm_compile.plan import plan_deployment
from vllm_compile.plan.memory import GIB
from vllm_compile.plan.releases import lora_rank_for, lora_ranks

# One code per verdict (vllm_compile/codes.py).
VERDICT_CODES: dict[str, Code] = {
    "weights_do_not_fit": "VC401",
    "no_kv_memory": "VC402",
    "kv_too_small": "VC403",
    "invalid": "VC404",
    "goal_not_met": "VC405",
}
# Fix keys that belong to one deployment (prefixed with deployments[i]. in a multi-deployment
# file); hardware.* keys are the host's.
DEPLOYMENT_SECTIONS = ("engine.", "workload.", "model.", "server.", "output.")
MIXED_TP = ("tensor parallelism across different GPU types is not supported: vLLM applies one "
            "gpu_memory_utilization, a fraction of each GPU's own total memory, to every rank")


def _engine_args(dep, engine_args=None):
    """The deployment's engine.extra_args as the parse stage read them (parsed here, by the same
    one parser, only for a DeploymentSpec built without the parse stage)."""
    if engine_args is not None:
        return engine_args
    from vllm_compile.engine_args import parse_extra_args

    return parse_extra_args(dep.engine.version, tuple(dep.engine.extra_args))[0]


def request_for(dep, facts, gpu, gpu_count: int, alternative_gpus=(), hardware_fixes: bool = True,
                hardware=None, release_flags: frozenset[str] = frozenset(), engine_args=None) -> PlanRequest:
    """The plan request of one deployment; `hardware` (the spec's hardware block) adds the
    multi-node facts when it spans several nodes. `engine_args`: the parse stage's EngineArgs."""
    engine, workload = dep.engine, dep.workload
    extra = _engine_args(dep, engine_args)
    values = extra.values()
    adapters = getattr(facts, "lora_adapters", ())
    # Served adapters: one slot each unless --max-loras says otherwise, and the largest adapter
    # rank rounded up to one the release accepts (an unacceptable one is refused by lora_problems).
    largest = max((a.rank for a in adapters), default=0)
    rank = (lora_rank_for(engine.version, largest) or largest) if adapters else 16
    request = PlanRequest(
        vllm_version=engine.version, model=facts, gpu=gpu, gpu_count=gpu_count, mode="compile",
        max_model_len=workload.max_model_len, concurrency=workload.concurrency,
        tensor_parallel_size=engine.tensor_parallel_size, pipeline_parallel_size=engine.pipeline_parallel_size,
        gpu_memory_utilization=engine.gpu_memory_utilization, kv_cache_dtype=engine.kv_cache_dtype,
        max_num_seqs=engine.max_num_seqs, max_num_batched_tokens=engine.max_num_batched_tokens,
        block_size=engine.block_size, enforce_eager=engine.enforce_eager,
        enable_expert_parallel=engine.enable_expert_parallel, dtype=dep.model.dtype,
        quantization=dep.model.quantization,
        disable_hybrid_kv_cache_manager=extra.disable_hybrid_kv_cache_manager,
        mamba_cache_dtype=extra.mamba_cache_dtype or "auto", mamba_ssm_cache_dtype=extra.mamba_ssm_cache_dtype or "auto",
        enable_prefix_caching=extra.enable_prefix_caching, mamba_cache_mode=extra.mamba_cache_mode,
        cpu_offload_bytes=int((extra.cpu_offload_gb or 0) * GIB),
        max_loras=(extra.max_loras or len(adapters) or 1) if (extra.enable_lora or adapters) else 0,
        max_lora_rank=extra.max_lora_rank or rank,
        kv_cache_memory_bytes=extra.kv_cache_memory_bytes,
        data_parallel_size=extra.data_parallel_size or 1,
        alternative_gpus=tuple(alternative_gpus), hardware_fixes=hardware_fixes,
        mm_limits=extra.limit_mm_per_prompt, mm_max_pixels=extra.mm_max_pixels, mm_max_tiles=extra.mm_max_tiles,
        speculative=_speculative(values, facts),
        skip_mm_profiling=bool(values.get("skip_mm_profiling")),
        language_model_only=bool(values.get("language_model_only")))
    return dataclasses.replace(request, **_node_fields(dep, gpu, gpu_count, hardware, extra, release_flags))


def _node_fields(dep, gpu, gpu_count: int, hardware, extra, release_flags: frozenset[str]) -> dict:
    if hardware is None or hardware.nodes <= 1:
        return {}
    return {"nodes": hardware.nodes, "gpus_per_node": gpu_count, "gpu_count": gpu_count * hardware.nodes,
            "interconnect": hardware.interconnect or gpu.interconnect, "network": hardware.network,
            "pipeline_parallel_pinned": "pipeline_parallel_size" in dep.engine.model_fields_set,
            "data_parallel_pinned": extra.given("data_parallel_size"),
            "release_flags": release_flags}


def speculative_request(value: object, model: object = None, tokens: object = None):
    """`--speculative-config` (a JSON object or its text), or the older `--speculative-model` +
    `--num-speculative-tokens`: (method as vLLM would resolve it, as given, tokens, draft model
    reference or None). vLLM infers an unnamed method from the draft's name: "eagle3" / "eagle"
    in it, "[ngram]" for n-gram (older flags), else a draft model."""
    import json

    from vllm_compile.plan.speculative import normalise

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    config: dict = dict(value) if isinstance(value, dict) else {}
    if model is not None:
        config.setdefault("model", model)
    if tokens is not None:
        config.setdefault("num_speculative_tokens", tokens)
    if not config:
        return None
    draft = config.get("model")
    given = config.get("method")
    if given is None:
        name = str(draft or "").lower()
        given = ("ngram" if name in ("[ngram]", "ngram") else "eagle3" if "eagle3" in name
                 else "eagle" if "eagle" in name else "draft_model" if draft else "")
    try:
        count = int(config.get("num_speculative_tokens") or 0)
    except (TypeError, ValueError):
        count = 0
    method = normalise(str(given))
    return method, str(given), count, (str(draft) if draft and method not in ("ngram", "suffix", "mtp") else None)


def _speculative(values: dict, facts):
    from vllm_compile.ir.facts import SpeculativeFacts

    found = speculative_request(values.get("speculative_config"), values.get("speculative_model"),
                                values.get("num_speculative_tokens"))
    if found is None:
        return None
    method, given, count, draft_ref = found
    # The resolve pass resolved the EAGLE head or draft model (ModelFacts.speculative_draft).
    draft = facts.speculative_draft if draft_ref is not None else None
    return SpeculativeFacts(method=method, num_speculative_tokens=count, draft=draft, given_method=given)


def lora_problems(source, dep, facts) -> list[Diagnostic]:
    """What vLLM would refuse about LoRA: a --max-lora-rank in extra_args the release does not
    accept, an adapter rank above every one it accepts, or a --max-lora-rank below an adapter's rank."""
    adapters = getattr(facts, "lora_adapters", ())
    spec, prefix = dep.spec, dep.key_prefix
    version = spec.engine.version
    accepted = ", ".join(str(r) for r in lora_ranks(version))
    given = _engine_args(spec, getattr(dep, "engine_args", None)).find("max_lora_rank")
    value = given.value if given is not None and isinstance(given.value, int) else None
    where = f"{prefix}engine.extra_args[{given.index}]" if given is not None else ""
    if value is not None and value not in lora_ranks(version):
        # Releases whose parser lists the choices refuse it there (lowering reports that);
        # older ones in LoRAConfig at start-up.
        return [source.error(
            where, f"vLLM {version} refuses --max-lora-rank {value}: max_lora_rank must be one of {accepted}",
            found=f"--max-lora-rank {value}", expected=f"one of {accepted}",
            fix=f"use {lora_rank_for(version, value) or lora_ranks(version)[-1]}", code="VC425")]
    if not adapters:
        return []
    index, widest = max(enumerate(adapters), key=lambda item: item[1].rank)
    if lora_rank_for(version, widest.rank) is None:
        return [source.error(
            f"{prefix}model.lora_adapters[{index}]",
            f"adapter '{widest.name}' has LoRA rank {widest.rank}, above what vLLM {version} accepts: "
            f"--max-lora-rank must be one of {accepted}",
            found=f"rank {widest.rank}", expected=f"a rank of at most {lora_ranks(version)[-1]}",
            fix="serve an adapter trained with a smaller rank (r in adapter_config.json)", code="VC426")]
    if value is not None and value < widest.rank:
        return [source.error(
            where, f"--max-lora-rank {value} is below the rank {widest.rank} of adapter '{widest.name}': vLLM "
            "refuses to load it", found=f"--max-lora-rank {value}", expected=f"at least {widest.rank}, one of {accepted}",
            fix=f"remove it (vllm-compile emits {lora_rank_for(version, widest.rank)} from the adapters) or raise it", code="VC427")]
    return []


def device_id(host: HostGpu) -> str:
    return host.uuid or str(host.index)


def held_bytes(plan: Plan) -> int:
    """What an instance holds on its GPU once started: its budget plus what vLLM allocates
    outside it (CUDA context, and CUDA graphs in releases that do not budget them)."""
    return plan.per_gpu.requested_bytes + plan.headroom_needed_bytes


@dataclass
class _Slot:
    """Placement state of one host GPU."""

    host: HostGpu
    owner: int | None = None                                   # deployment holding it whole
    tenants: list[tuple[int, Plan]] = field(default_factory=list)  # sharing deployments, in start order

    @property
    def free(self) -> bool:
        return self.owner is None and not self.tenants

    def room(self) -> int:
        if self.owner is not None:
            return 0
        return self.host.gpu.memory_bytes - sum(held_bytes(p) for _, p in self.tenants)


def plan_host(spec, models, hardware, allow_failure: bool = False, catalog=(), release_flags=None):
    """(plans, device ids per deployment or None for "any `count` GPUs", warning diagnostics);
    raises CompileError when a deployment would not start or the host cannot hold them all.
    `catalog`: the GPU types a fix may move to. Fix keys are the spec file's own paths.
    `release_flags(version)`: the flags a vLLM release accepts (multi-node launches need them)."""
    if spec.hardware.nodes > 1:
        return _plan_nodes(spec, models, hardware, allow_failure, release_flags)
    source, deps = spec.source, spec.deployments
    share = spec.hardware.share_gpus
    slots = [_Slot(h) for h in hardware.gpus]
    groups = _groups(slots)
    host_size = len(slots)
    alone: list[Plan | None] = [None] * len(deps)   # the plan on the chosen type, as if alone on its GPUs
    where: list[list[_Slot]] = [[] for _ in deps]
    errors: list[Diagnostic] = []

    # hardware.count and hardware.gpu are fixes only for a declared host of one GPU type (not one
    # detected or locked, nor pinned GPUs); another GPU type only where no memory override is pinned.
    resizable = _grow(spec, groups, 1) is not None and spec.hardware.device_ids is None and not hardware.detected
    if spec.hardware.memory_gib is not None:
        catalog = ()
    for i, dep in enumerate(deps):
        problems = lora_problems(source, dep, models[i])
        if problems:
            errors += problems
            continue
        held = sum(len(w) for w in where)
        options = [(g, _named(_keyed(dep, plan_deployment(request_for(dep.spec, models[i], g[0].host.gpu, host_size,
                                                                      catalog, resizable, engine_args=dep.engine_args)),
                                           held, host_size), g))
                   for g in groups]
        starting = [(g, p) for g, p in options if _starts(p)]
        fitting = sorted(((g, p) for g, p in starting if p.gpus <= len(g)),
                         key=lambda o: o[1].gpus * o[0][0].host.gpu.memory_bytes)
        if not fitting:
            group, plan = max(options, key=lambda o: o[0][0].host.gpu.memory_bytes)
            if starting:
                errors.append(_mixed_tp(source, dep, min((p for _, p in starting), key=lambda p: p.gpus), groups))
                continue
            if not allow_failure:
                errors.append(_failure(source, dep.key_prefix, dep.spec, plan, dep.engine_args))
                continue
            fitting = [(group, plan)]
        attempts = [(g, p, _smallest_utilization(dep.spec, models[i], g[0].host.gpu, p) if share and p.gpus == 1
                     else None) for g, p in fitting]
        for group, plan, sharing in attempts:
            taken = _place(group, i, plan, sharing)
            if taken:
                alone[i], where[i] = plan, taken
                break
        else:
            errors.append(_overcommit(spec, i, *attempts[0], groups))
    if errors:
        raise CompileError(errors)

    placed = [p for p in alone if p is not None]
    assert len(placed) == len(deps), "a deployment without a plan has an error above"
    plans = list(placed)
    for slot in slots:
        if len(slot.tenants) > 1:
            for k, (i, _) in enumerate(slot.tenants):
                plans[i] = _named(_tenant_plan(deps, models, placed[i], slot, k), [slot])
    # One deployment on a uniform, unpinned host keeps `count`: any of its GPUs will do.
    pinned = spec.multi or len(groups) > 1 or spec.hardware.device_ids is not None
    devices = tuple(tuple(device_id(s.host) for s in taken) if pinned else None for taken in where)
    notes = [source.warning(located_key(dep.key_prefix, dep.spec, w.key if isinstance(w, Note) else "engine",
                                        dep.engine_args), str(w), code="VC410")
             for dep, p in zip(deps, plans) for w in p.warnings]
    idle = [device_id(s.host) for s in slots if s.free]
    if idle and pinned:
        notes.append(source.warning("hardware", f"no deployment uses GPU(s) {', '.join(idle)}", code="VC411"))
    return tuple(plans), devices, tuple(notes)


def _plan_nodes(spec, models, hardware, allow_failure: bool, release_flags):
    """One deployment over hardware.nodes identical nodes, each giving it all its `count` GPUs."""
    source, hw = spec.source, spec.hardware
    errors = []
    if spec.multi:
        errors.append(source.error("hardware.nodes", "a deployments: file shares one host; only a single "
                                   "deployment spans several nodes", found=f"nodes: {hw.nodes}",
                                   expected="one deployment at the top level", fix="one spec per multi-node deployment", code="VC420"))
    if hw.share_gpus:
        errors.append(source.error("hardware.share_gpus", "a deployment across nodes holds every GPU of every node",
                                   found="share_gpus: true", expected="share_gpus: false with hardware.nodes > 1",
                                   fix="drop share_gpus", code="VC421"))
    if hw.device_ids is not None:
        errors.append(source.error("hardware.device_ids", "across nodes each node gives the deployment all its GPUs",
                                   found=", ".join(hw.device_ids), expected="no device_ids with hardware.nodes > 1",
                                   fix="drop device_ids and set hardware.count to the GPUs of one node", code="VC422"))
    if hw.node_addresses is not None and len(hw.node_addresses) != hw.nodes:
        errors.append(source.error("hardware.node_addresses", f"{len(hw.node_addresses)} address(es) for "
                                   f"{hw.nodes} nodes", found=", ".join(hw.node_addresses),
                                   expected=f"one address per node ({hw.nodes}), the head first",
                                   fix="list every node's address, or drop node_addresses (each node's script then "
                                       "reads VLLM_HOST_IP)", code="VC423"))
    if len(_groups([_Slot(h) for h in hardware.gpus])) > 1:
        errors.append(source.error("hardware.gpu", "the nodes of a multi-node deployment are identical: one GPU type",
                                   found=", ".join(sorted({h.gpu.name for h in hardware.gpus})),
                                   expected="one GPU type", fix="name one GPU type in hardware.gpu", code="VC424"))
    errors += lora_problems(source, spec.deployments[0], models[0])
    if errors:
        raise CompileError(errors)
    dep = spec.deployments[0]
    gpu = hardware.gpu
    flags = frozenset(release_flags(dep.spec.engine.version)) if release_flags else frozenset()
    plan = _named(plan_deployment(request_for(dep.spec, models[0], gpu, len(hardware.gpus), hardware_fixes=False,
                                              hardware=hw, release_flags=flags, engine_args=dep.engine_args)),
                  [_Slot(hardware.gpus[0])])
    if not _starts(plan) and not allow_failure:
        raise CompileError([_failure(source, dep.key_prefix, dep.spec, plan, dep.engine_args)])
    notes = tuple(source.warning(located_key(dep.key_prefix, dep.spec, w.key if isinstance(w, Note) else "engine",
                                             dep.engine_args), str(w), code="VC410")
                  for w in plan.warnings)
    return (plan,), (None,), notes


# --------------------------------------------------------------------------------------------
# Placement

def _groups(slots: list[_Slot]) -> list[list[_Slot]]:
    """Host GPUs grouped by type (identical facts), in the order the types first appear."""
    groups: dict = {}
    for slot in slots:
        groups.setdefault(slot.host.gpu, []).append(slot)
    return list(groups.values())


def _named(plan: Plan, group: list[_Slot]) -> Plan:
    return dataclasses.replace(plan, gpu_name=group[0].host.gpu.name)


def _keyed(dep, plan: Plan, taken: int, host_size: int) -> Plan:
    """The plan's fixes with the spec file's key paths: a deployment's keys get its prefix, and a
    hardware.count counts the GPUs earlier deployments hold too."""
    if not dep.key_prefix or not plan.fixes:
        return plan
    fixes = []
    for fix in plan.fixes:
        values = dict(fix.settings)
        settings = [(dep.key_prefix + k if k.startswith(DEPLOYMENT_SECTIONS) else k,
                     v + taken if k == "hardware.count" and isinstance(v, int) else v) for k, v in fix.settings]
        gpus = (int(values.get("engine.tensor_parallel_size", plan.tensor_parallel_size))  # type: ignore[call-overload]
                * int(values.get("engine.pipeline_parallel_size", plan.pipeline_parallel_size))  # type: ignore[call-overload]
                * plan.data_parallel_size)
        if "hardware.count" not in values and "hardware.gpu" not in values and gpus + taken > host_size:
            # More GPUs for this deployment than it had: the host grows by the difference.
            settings.insert(0, ("hardware.count", gpus + taken))
        fixes.append(dataclasses.replace(fix, settings=tuple(settings)))
    return dataclasses.replace(plan, fixes=tuple(fixes))


def _starts(plan: Plan) -> bool:
    return plan.verdict == "ok" and plan.goal_met


def _place(group: list[_Slot], index: int, plan: Plan, sharing: Plan | None) -> list[_Slot] | None:
    if sharing is not None:
        need = held_bytes(sharing)
        slot = next((s for s in group if s.room() >= need), None)
        if slot is None:
            return None
        slot.tenants.append((index, sharing))
        return [slot]
    free = [s for s in group if s.free][:plan.gpus]
    if len(free) < plan.gpus:
        return None
    for slot in free:
        slot.owner = index
    return free


# A shared GPU's utilization is cut to what the workload needs, so the prediction's own error
# must not eat into the goal: keep this much KV capacity beyond it (the planner's KV-token
# predictions land within 10 % of real start-ups; see bench/calibrate.py).
SHARING_KV_MARGIN = 0.10


def _smallest_utilization(dep, facts, gpu, alone: Plan) -> Plan:
    """The plan at the smallest gpu_memory_utilization, in hundredths, that starts and serves the
    workload, with SHARING_KV_MARGIN to spare, at the length and KV dtype it gets alone (a pinned
    utilization is kept)."""
    if dep.engine.gpu_memory_utilization is not None:
        return alone
    # Alone it starts at its own utilization, and more memory never stops a plan from starting.
    lo, hi, best = 1, round(alone.gpu_memory_utilization * 100), alone
    while lo <= hi:
        mid = (lo + hi) // 2
        plan = plan_deployment(_sharing_request(dep, facts, gpu, alone, mid / 100, 0))
        roomy = plan.max_concurrency >= dep.workload.concurrency * (1 + SHARING_KV_MARGIN)
        if _starts(plan) and roomy:
            best, hi = plan, mid - 1
        else:
            lo = mid + 1
    return best


def _sharing_request(dep, facts, gpu, alone: Plan, utilization: float, others: int) -> PlanRequest:
    # Searching for the smallest utilization plans many failing layouts; none needs fixes.
    return dataclasses.replace(request_for(dep, facts, gpu, 1), gpu_memory_utilization=utilization,
                               max_model_len=alone.max_model_len, kv_cache_dtype=alone.kv_cache_dtype,
                               other_tenants_bytes=others, propose_fixes=False)


def _tenant_plan(deps, models, alone: Plan, slot: _Slot, k: int) -> Plan:
    """Tenant k of a shared GPU, planned with what the tenants before it hold at its start-up."""
    index, minimal = slot.tenants[k]
    dep = deps[index].spec
    earlier = slot.tenants[:k]
    others = sum(held_bytes(p) for _, p in earlier)
    plan = plan_deployment(_sharing_request(dep, models[index], slot.host.gpu, alone,
                                            minimal.gpu_memory_utilization, others))
    neighbours = ", ".join(f"'{deps[j].spec.name}'" for j, _ in slot.tenants if j != index)
    reason = None
    if dep.engine.gpu_memory_utilization is None:
        reason = (f"the smallest (in hundredths) at which it starts and holds {dep.workload.concurrency} request(s) of "
                  f"{alone.max_model_len} tokens, leaving room for {neighbours} on GPU {slot.host.index}")
    if earlier:
        after = ", ".join(f"'{deps[j].spec.name}' ({held_bytes(p) / GIB:.2f} GiB)" for j, p in earlier)
        reason = (reason or "pinned in the spec") + (f"; it starts after {after}, so vLLM's start-up check finds "
                                                     f"{(slot.host.gpu.memory_bytes - others) / GIB:.2f} GiB free")
    kept = {c.knob: c for c in alone.choices if c.knob in ("max_model_len", "kv_cache_dtype")}
    choices = [Choice(c.knob, c.value, reason, c.pinned and dep.engine.gpu_memory_utilization is not None)
               if c.knob == "gpu_memory_utilization" and reason else kept.pop(c.knob, c) for c in plan.choices]
    return dataclasses.replace(plan, choices=tuple(choices + list(kept.values())),
                               warnings=tuple(dict.fromkeys(alone.warnings + plan.warnings)))


# --------------------------------------------------------------------------------------------
# Diagnostics

def _position(dep) -> str:
    return dep.key_prefix.rstrip(".") or "name"


def _gib(n: int) -> str:
    return f"{n / GIB:.2f}"


def _holders(spec, group: list[_Slot]) -> str:
    """Who holds the GPUs of one type: whole GPUs per deployment, then each shared GPU."""
    deps = spec.deployments
    whole: dict[int, list[str]] = {}
    for slot in group:
        if slot.owner is not None:
            whole.setdefault(slot.owner, []).append(str(slot.host.index))
    parts = [f"'{deps[j].spec.name}' holds GPU {', '.join(ids)}" for j, ids in whole.items()]
    for slot in group:
        if slot.tenants:
            held = " + ".join(f"'{deps[j].spec.name}' {_gib(held_bytes(p))} GiB" for j, p in slot.tenants)
            parts.append(f"GPU {slot.host.index} holds {held}, {_gib(slot.room())} GiB left")
    return "; ".join(parts) or "nothing else"


def _overcommit(spec, index: int, group: list[_Slot], plan: Plan, sharing: Plan | None, groups) -> Diagnostic:
    """The host cannot hold deployment `index` next to the ones placed before it."""
    dep = spec.deployments[index]
    name, gpu = dep.spec.name, group[0].host.gpu
    grow = _grow(spec, groups, 1)
    best = max(group, key=lambda s: s.room())
    if sharing is not None and best.room() > 0:
        need = held_bytes(sharing)
        pinned = dep.spec.engine.gpu_memory_utilization is not None
        message = (f"deployment '{name}' does not fit: it needs {_gib(need)} GiB of one {gpu.name} (gpu_memory_utilization "
                   f"{sharing.gpu_memory_utilization:.2f} of {_gib(gpu.memory_bytes)} GiB plus "
                   f"{_gib(sharing.headroom_needed_bytes)} GiB outside vLLM's budget) but the most any {gpu.name} has "
                   f"left is {_gib(best.room())} GiB ({_holders(spec, group)}): {_gib(need - best.room())} GiB short")
        fixes = [f"a smaller engine.gpu_memory_utilization than {sharing.gpu_memory_utilization:.2f}" if pinned else
                 f"a smaller workload.max_model_len or workload.concurrency for '{name}' or for a deployment on GPU "
                 f"{best.host.index}", grow]
        key = dep.key_prefix + "engine.gpu_memory_utilization" if pinned else _position(dep)
        return spec.source.error(key, message, fix="; or ".join(f for f in fixes if f), code="VC406")
    free = sum(s.free for s in group)
    short = plan.gpus - free
    message = (f"deployment '{name}' needs {plan.gpus} {gpu.name} GPU(s) but only {free} of the host's {len(group)} "
               f"are free ({_holders(spec, group)}): {short} GPU(s) short")
    fixes = [_grow(spec, groups, short),
             "hardware.share_gpus: true, so deployments that need one GPU share GPUs"
             if plan.gpus == 1 and not spec.hardware.share_gpus else None,
             "a smaller tensor_parallel_size, model or workload for one of these deployments, or another host"]
    return spec.source.error(_position(dep), message, fix="; or ".join(f for f in fixes if f), code="VC406")


def _grow(spec, groups, more: int) -> str | None:
    """The fix that gives a declared one-type host `more` GPUs."""
    hw = spec.hardware
    if len(groups) > 1 or hw.gpu.strip().lower() == "auto":
        return None
    if hw.device_ids is not None:
        return f"{more} more GPU(s) in hardware.device_ids"
    return f"hardware.count: {hw.count + more}"


def _mixed_tp(source, dep, plan: Plan, groups) -> Diagnostic:
    largest = max(len(g) for g in groups)
    kinds = ", ".join(f"{len(g)} x {g[0].host.gpu.name}" for g in groups)
    return source.error(
        dep.key_prefix + "engine.tensor_parallel_size",
        f"deployment '{dep.spec.name}' needs {plan.gpus} GPUs of one type but the host has at most {largest} of any "
        f"type; {MIXED_TP}, so ranks on GPUs of different sizes would get different budgets",
        found=kinds, expected=f"{plan.gpus} GPUs of one type",
        fix=f"a model, quantization or workload that runs on {largest} GPU(s) of one type, or a host with "
            f"{plan.gpus} GPUs of one type", code="VC407")


# Planner keys that stand for a flag of engine.extra_args (no spec key sets it): the item that sets it.
FLAG_KEYS = {
    "engine.data_parallel_size": ("data_parallel_size",),
    "engine.speculative_config": ("speculative_config", "speculative_model", "num_speculative_tokens"),
}


def located_key(prefix: str, dep, key: str, engine_args=None) -> str:
    """The spec file's path of a planner key (a failure_key or a Note's key) of the deployment
    under `prefix`: hardware.* keys are the host's, a flag's key is its engine.extra_args item."""
    dests = FLAG_KEYS.get(key)
    if dests is not None:
        args = _engine_args(dep, engine_args)
        given = [arg.index for arg in (args.find(d) for d in dests) if arg is not None]
        key = f"engine.extra_args[{max(given)}]" if given else "engine.extra_args"
    return key if key.startswith("hardware.") else prefix + key


def _failure(source: SourceMap, prefix: str, dep, plan: Plan, engine_args=None) -> Diagnostic:
    # The planner names the key its verdict is about; hardware.* keys are the host's, and a data-parallel
    # size (given as a flag) is the extra_args item that sets it.
    key = located_key(prefix, dep, plan.failure_key or "engine", engine_args)
    headline = {"invalid": "vLLM would refuse this configuration",
                "weights_do_not_fit": "the model's weights do not fit on the GPUs",
                "no_kv_memory": "vLLM would fail at start-up: no memory left for the KV cache",
                "kv_too_small": "vLLM would fail at start-up: the KV cache cannot hold one max_model_len request",
                "goal_not_met": "goal_not_met"}[plan.verdict]
    fixes = ("; or ".join(f.label() for f in plan.fixes) + " (`vllm-compile fix` applies one)" if plan.fixes
             else "none found that re-plans ok; see `vllm-compile explain` for the ledger")
    return source.error(key, f"{headline}: {' '.join(plan.reasons)}", fix=fixes, code=VERDICT_CODES[plan.verdict],
                        fixes=tuple(f.as_json() for f in plan.fixes))
