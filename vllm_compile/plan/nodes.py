"""Across nodes: the parallel layout of one deployment over `hardware.nodes` identical nodes.

vLLM's multi-node guidance (docs/serving/parallelism_scaling.md) is the rule book, and every
choice names the rule that made it:

- `tp-within-node`: tensor parallelism over the GPUs of one node, pipeline parallelism across
  the nodes (TP = GPUs per node, PP = nodes);
- `pp-without-nvlink`: GPUs without NVLink (hardware.interconnect pcie) take pipeline stages
  rather than tensor shards, within the node too;
- `pp-uneven-heads`: when the attention heads do not split over the GPUs of a node, the largest
  tensor-parallel size that does, and pipeline stages for the rest;
- `moe-dp-ep`: a mixture-of-experts model first tries data-parallel attention with expert
  parallelism (one replica of attention per node, the experts split over TP x DP), where the
  release can launch it and it fits;
- `pinned`: sizes from the spec, checked so that TP x PP x DP equals nodes x GPUs per node; a
  tensor-parallel group spanning nodes is allowed only when pinned, with a warning.

Each candidate is planned by the one-node planner on all the GPUs (every stage's ledger is
evaluated and the heaviest rank binds); the first that starts and meets the goal is chosen.
"""
from __future__ import annotations

import dataclasses
from vllm_compile.fastclass import dataclass
from typing import Callable

from vllm_compile.ir.plan import Choice, Fix, Note, Plan, PlanRequest

# vLLM's own multiprocessing multi-node mode (no Ray): TP x PP over nodes, and data parallelism
# over nodes; each flag set as the release's parser must accept it.
MP_FLAGS = ("--nnodes", "--node-rank", "--master-addr", "--headless")
MP_DP_FLAGS = ("--data-parallel-size-local", "--data-parallel-address", "--data-parallel-rpc-port",
               "--data-parallel-start-rank", "--headless")
RAY_FLAGS = ("--distributed-executor-backend",)
RAY_DP_FLAGS = ("--data-parallel-size-local", "--data-parallel-backend")
# Keys a one-node fix may set that mean something else across nodes (hardware.count is per node).
NODE_UNSAFE_FIX_KEYS = ("hardware.", "engine.tensor_parallel_size", "engine.pipeline_parallel_size")
MAX_EXTRA_NODES = 4


@dataclass(frozen=True, slots=True)
class Option:
    tp: int
    pp: int
    dp: int
    ep: bool
    rule: str
    reason: str


def backend(req: PlanRequest, dp: int) -> tuple[str, str]:
    """("mp" | "ray", why) for launching the ranks over the nodes on this release."""
    flags = req.release_flags
    mp = MP_DP_FLAGS if dp > 1 else MP_FLAGS
    missing = [f for f in mp if f not in flags]
    if not missing:
        return "mp", (f"vLLM {req.vllm_version} has its own multi-node mode ({', '.join(mp)}), so the lws target "
                      f"needs no Ray cluster; the ray target starts one all the same")
    ray = RAY_DP_FLAGS if dp > 1 else RAY_FLAGS
    lacking = [f for f in ray if f not in flags]
    if lacking:
        return "", (f"vLLM {req.vllm_version} has neither its own multi-node mode (no {missing[0]}) nor a Ray "
                    f"launch for this layout (no {lacking[0]})")
    return "ray", (f"vLLM {req.vllm_version} has no multi-node mode of its own (no {missing[0]}): the nodes join "
                   f"a Ray cluster" + (" (--data-parallel-backend ray)" if dp > 1 else
                                       " (--distributed-executor-backend ray)"))


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def options(req: PlanRequest, valid_tp: Callable, problems: list[tuple[str, str]], warnings: list[str]) -> list[Option]:
    """The layouts to try, in the order the rules prefer them; `problems` gets (spec key, reason)
    for a layout that cannot work."""
    facts, nodes, per_node = req.model, req.nodes, req.gpus_per_node
    total = nodes * per_node
    dp = req.data_parallel_size
    if req.tensor_parallel_size is not None or req.pipeline_parallel_pinned:
        tp, pp = req.tensor_parallel_size, req.pipeline_parallel_size
        if tp is None:
            tp = max(1, total // (pp * dp))
        elif not req.pipeline_parallel_pinned:
            pp = max(1, total // (tp * dp))
        if tp * pp * dp != total:
            replicas = f" x data_parallel_size {dp}" if dp > 1 else ""
            problems.append(("engine.tensor_parallel_size", f"tensor_parallel_size {tp} x pipeline_parallel_size {pp}{replicas} = {tp * pp * dp} GPUs, "
                            f"but hardware.nodes {nodes} x hardware.count {per_node} = {total}: across nodes every GPU "
                            f"of every node holds one rank"))
        elif tp > per_node and tp % per_node:
            problems.append(("engine.tensor_parallel_size", f"tensor_parallel_size {tp} spans {tp / per_node:.2f} nodes "
                             f"of {per_node} GPUs: a tensor-parallel group fills whole nodes or stays within one"))
        elif tp <= per_node and per_node % tp:
            problems.append(("engine.tensor_parallel_size", f"tensor_parallel_size {tp} does not divide the {per_node} "
                             f"GPUs of a node: a tensor-parallel group would straddle two nodes"))
        elif tp > per_node:
            warnings.append(Note(f"tensor_parallel_size {tp} spans {tp // per_node} nodes: every layer's all-reduce "
                                 f"crosses the {req.network} network between them (vLLM's guidance: TP within a node, "
                                 f"PP across nodes)", "engine.tensor_parallel_size"))
        reason = "pinned in the spec" + ("" if req.tensor_parallel_size is not None and req.pipeline_parallel_pinned
                                         else "; the other size fills nodes x GPUs per node")
        return [Option(tp, pp, dp, req.enable_expert_parallel, "pinned", reason)]

    found: list[Option] = []
    nvlink = req.interconnect in ("nvlink", "infinity-fabric")
    if (facts.moe is not None and not req.data_parallel_pinned and valid_tp(facts, per_node)
            and backend(req, nodes)[0]):
        found.append(Option(per_node, 1, nodes, True, "moe-dp-ep",
                            f"rule moe-dp-ep (vLLM's guidance for mixture-of-experts models): data-parallel attention, "
                            f"one replica per node over its {per_node} GPUs, with expert parallelism: the "
                            f"{facts.moe.num_experts} experts split over TP x DP = {total} GPUs"))
    per_replica = total // dp if total % dp == 0 else total
    if nvlink and valid_tp(facts, per_node) and per_replica // per_node <= facts.num_layers and per_node <= per_replica:
        found.append(Option(per_node, per_replica // per_node, dp, req.enable_expert_parallel, "tp-within-node",
                            f"rule tp-within-node (vLLM's multi-node guidance): tensor parallelism over the {per_node} "
                            f"GPUs of each node ({req.interconnect}), pipeline parallelism across the {nodes} nodes"))
        return found
    sizes = [t for t in _divisors(per_node) if valid_tp(facts, t) and per_replica % t == 0
             and per_replica // t <= facts.num_layers]
    if not sizes:
        problems.append(("hardware.nodes", f"no layout spreads {facts.num_layers} layers and "
                         f"{facts.num_attention_heads} attention heads over {nodes} nodes of {per_node} GPUs"))
        return found
    if not nvlink:
        tp = min(sizes)
        reason = (f"rule pp-without-nvlink (vLLM's guidance for GPUs without NVLink): the GPUs of a node talk over "
                  f"{req.interconnect}, so pipeline stages replace tensor shards within the node too")
        rule = "pp-without-nvlink"
    else:
        tp = max(sizes)
        reason = (f"rule pp-uneven-heads (vLLM's guidance for uneven splits): the {facts.num_attention_heads} attention "
                  f"heads do not split over {per_node} GPUs, so the largest size that does, and pipeline stages for "
                  f"the rest")
        rule = "pp-uneven-heads"
    found.append(Option(tp, per_replica // tp, dp, req.enable_expert_parallel, rule, reason))
    return found


def plan_across_nodes(req: PlanRequest, plan_one: Callable[[PlanRequest], Plan], valid_tp: Callable) -> Plan:
    """Plan `req` over req.nodes nodes of req.gpus_per_node GPUs each."""
    total = req.nodes * req.gpus_per_node
    problems: list[tuple[str, str]] = []
    warnings: list[str] = []
    tried = options(req, valid_tp, problems, warnings)
    first = tried[0] if tried else Option(req.tensor_parallel_size or 1, req.pipeline_parallel_size,
                                          req.data_parallel_size, req.enable_expert_parallel, "pinned", "")

    def one(option: Option, fixes: bool = False) -> Plan:
        return plan_one(dataclasses.replace(
            req, nodes=1, gpu_count=total, tensor_parallel_size=option.tp, pipeline_parallel_size=option.pp,
            data_parallel_size=option.dp, enable_expert_parallel=option.ep, alternative_gpus=(),
            hardware_fixes=False, propose_fixes=fixes and req.propose_fixes))

    if problems:
        plan = one(first)
        return _finish(req, dataclasses.replace(plan, verdict="invalid", goal_met=False, failure_key=problems[0][0],
                                                reasons=tuple(r for _, r in problems) + plan.reasons, fixes=()),
                       first, warnings, ())
    planned = [(option, one(option)) for option in tried]
    chosen = next(((o, p) for o, p in planned if p.verdict == "ok" and p.goal_met), None)
    if chosen is None:
        option = tried[-1]
        plan = one(option, fixes=True)
        kept = tuple(f for f in plan.fixes if not any(k.startswith(NODE_UNSAFE_FIX_KEYS) for k, _ in f.settings))
        more = _more_nodes(req, plan_one, valid_tp) if req.propose_fixes else ()
        return _finish(req, plan, option, warnings, kept + more)
    option, plan = chosen
    return _finish(req, plan, option, warnings, ())


def _more_nodes(req: PlanRequest, plan_one, valid_tp) -> tuple[Fix, ...]:
    """The fewest more nodes with which the plan starts and meets its goal."""
    for nodes in range(req.nodes + 1, req.nodes + 1 + MAX_EXTRA_NODES):
        patched = dataclasses.replace(req, nodes=nodes, gpu_count=nodes * req.gpus_per_node, propose_fixes=False)
        if req.tensor_parallel_size is not None and req.pipeline_parallel_pinned:
            continue   # pinned sizes fill a fixed number of GPUs
        plan = plan_across_nodes(patched, plan_one, valid_tp)
        if plan.verdict == "ok" and plan.goal_met:
            return (Fix(settings=(("hardware.nodes", nodes),),
                        summary=f"{nodes - req.nodes} more node(s) of {req.gpus_per_node} x {req.gpu.name}",
                        verdict="ok", max_concurrency=plan.max_concurrency),)
    return ()


def _finish(req: PlanRequest, plan: Plan, option: Option, warnings: list[str], fixes: tuple[Fix, ...]) -> Plan:
    """The plan with the multi-node choices, each naming its rule."""
    launch, why = backend(req, option.dp)
    reasons = plan.reasons
    verdict, failure_key = plan.verdict, plan.failure_key
    if not launch:
        verdict, reasons = "invalid", reasons + (why + "; pin a newer engine.version",)
        failure_key = "hardware.nodes"
    pinned_tp = req.tensor_parallel_size is not None
    choices = []
    for choice in plan.choices:
        if choice.knob == "tensor_parallel_size":
            choices.append(Choice("tensor_parallel_size", option.tp, option.reason if not pinned_tp else
                                  "pinned in the spec", pinned=pinned_tp))
            pinned_pp = req.pipeline_parallel_pinned
            choices.append(Choice("pipeline_parallel_size", option.pp,
                                  "pinned in the spec" if pinned_pp else
                                  (f"{option.rule}: " + (f"{req.nodes} node(s) x {option.pp // req.nodes} stage(s) per "
                                                         f"node" if option.pp >= req.nodes else
                                                         "one stage; the nodes hold data-parallel replicas")),
                                  pinned=pinned_pp))
            if option.dp > 1:
                choices.append(Choice("data_parallel_size", option.dp, "pinned in engine.extra_args"
                                      if req.data_parallel_pinned else f"{option.rule}: one replica per node",
                                      pinned=req.data_parallel_pinned))
            if option.ep and not req.enable_expert_parallel:
                choices.append(Choice("enable_expert_parallel", True, f"{option.rule}: the experts are split whole "
                                                                      f"over TP x DP ranks"))
            if launch:
                choices.append(Choice("multi_node_backend", launch, why))
        else:
            choices.append(choice)
    return dataclasses.replace(plan, verdict=verdict, reasons=reasons, choices=tuple(choices), failure_key=failure_key,
                               warnings=tuple(dict.fromkeys(plan.warnings + tuple(warnings))),
                               fixes=fixes, nodes=req.nodes, multi_node_backend=launch)
