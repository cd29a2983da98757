"""A deployment across nodes: each node's `vllm serve` argv for Ray and for vLLM's own
multi-node mode, checked against the pinned release's flags.

vLLM's recipes (docs/serving/parallelism_scaling.md, examples/online_serving/run_cluster.sh):
- Ray: the head runs `ray start --head --port=6379`, every other node `ray start
  --address=<head>:6379`; once the cluster holds every GPU the head runs `vllm serve` with
  `--distributed-executor-backend ray` (data parallelism: `--data-parallel-backend ray`).
- vLLM's own mode (releases with --nnodes): every node runs `vllm serve ... --nnodes N
  --node-rank R --master-addr <head>`, the others with `--headless`; data parallelism across
  nodes: `--data-parallel-size-local`, `--data-parallel-address`, `--data-parallel-rpc-port`,
  and on the others `--headless --data-parallel-start-rank R`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from vllm_compile.diagnostics import CompileError, Diagnostic, SourceMap
from vllm_compile.ir.lowered import LEADER_ADDRESS, NODE_RANK, MultiNode, NodeLaunch, serve_words
from vllm_compile.flags import Manifest, flag_history

if TYPE_CHECKING:
    from vllm_compile.ir.engine_args import EngineArgs
    from vllm_compile.ir.plan import Plan
    from vllm_compile.ir.spec import DeploymentSpec, HardwareSpec

RAY_PORT = 6379              # Ray's GCS port in run_cluster.sh
MASTER_PORT = 29501          # vLLM's default --master-port, written out: the leader's readiness probes it
DP_RPC_PORT = 13345          # the data-parallel RPC port of vLLM's data-parallel examples
# Flags the multi-node launch owns: engine.extra_args may not set them.
LAUNCH_FLAGS = ("--distributed-executor-backend", "--nnodes", "--node-rank", "--master-addr", "--master-port",
                "--headless", "--data-parallel-size-local", "--data-parallel-address", "--data-parallel-rpc-port",
                "--data-parallel-start-rank", "--data-parallel-backend")
# Values the placeholders stand for while the argv is checked against the release's parser.
SAMPLES = {LEADER_ADDRESS: "10.0.0.1", NODE_RANK: "1"}


def _launches(plan: Plan, nodes: int) -> dict[str, tuple[list[str], list[str] | None, int]]:
    """backend -> (leader's extra flags, workers' extra flags or None, rendezvous port)."""
    if plan.data_parallel_size > 1:
        local = str(plan.data_parallel_size // nodes)
        return {
            "ray": (["--data-parallel-size-local", local, "--data-parallel-backend", "ray"], None, RAY_PORT),
            "mp": (["--data-parallel-size-local", local, "--data-parallel-address", LEADER_ADDRESS,
                    "--data-parallel-rpc-port", str(DP_RPC_PORT)],
                   ["--data-parallel-size-local", local, "--data-parallel-address", LEADER_ADDRESS,
                    "--data-parallel-rpc-port", str(DP_RPC_PORT), "--headless", "--data-parallel-start-rank",
                    NODE_RANK], DP_RPC_PORT),
        }
    common = ["--nnodes", str(nodes), "--master-addr", LEADER_ADDRESS, "--master-port", str(MASTER_PORT)]
    return {
        "ray": (["--distributed-executor-backend", "ray"], None, RAY_PORT),
        "mp": ([*common, "--node-rank", "0"], [*common, "--node-rank", NODE_RANK, "--headless"], MASTER_PORT),
    }


def _sample(argv: list[str]) -> list[str]:
    return [SAMPLES.get(word, word) for word in argv]


def _missing(flags: list[str], manifest: Manifest) -> list[str]:
    return [f for f in flags if f.startswith("--") and f not in manifest.flags]


def lower_nodes(dep: DeploymentSpec, hardware: HardwareSpec, plan: Plan, args: tuple[str, ...], manifest: Manifest,
                *, source: SourceMap, key_prefix: str, formats: tuple[str, ...],
                engine_args: EngineArgs | None = None) -> MultiNode:
    """The launches of a deployment over hardware.nodes nodes; raises CompileError when a chosen
    target needs a launch the release's parser refuses, or extra_args set a launch flag."""
    from vllm_compile.engine_args import parse_extra_args, parse_serve_command

    errors: list[Diagnostic] = []
    given = engine_args or parse_extra_args(dep.engine.version, tuple(dep.engine.extra_args))[0]
    launch_dests = {flag[2:].replace("-", "_") for flag in LAUNCH_FLAGS}
    for arg in given.args:
        if arg.dest in launch_dests:
            errors.append(source.error(
                f"{key_prefix}engine.extra_args[{arg.index}]",
                f"{arg.option} is set by vllm-compile for the multi-node launch",
                found=given.tokens[arg.index], expected="no multi-node launch flag in extra_args",
                fix="remove it: hardware.nodes and the output format (lws, ray) decide how the nodes start", code="VC517"))
    built: dict[str, NodeLaunch | None] = {}
    refusals: dict[str, str] = {}
    for backend, (leader, worker, port) in _launches(plan, hardware.nodes).items():
        missing = _missing(leader + (worker or []), manifest)
        if missing:
            history = flag_history(missing[0], manifest.version)
            refusals[backend] = (f"vLLM {manifest.requested} has no {missing[0]}" + (f" ({history})" if history else ""))
            built[backend] = None
            continue
        serve = serve_words(args)  # every node runs `vllm serve MODEL ...`, read by the release's own rules
        for extra in (leader, worker):
            if extra is None:
                continue
            _, problems = parse_serve_command(_sample([*serve, *extra]), manifest)
            if problems:
                refusals[backend] = f"vLLM {manifest.requested} refuses the {backend} launch: {problems[0].message}"
                break
        built[backend] = None if backend in refusals else NodeLaunch(
            backend=backend, leader_args=(*serve, *leader), worker_args=(*serve, *worker) if worker else (),
            rendezvous_port=port)
    if "ray" in formats and built["ray"] is None:
        errors.append(source.error("hardware.nodes", f"the ray target cannot start this layout: {refusals['ray']}",
                                   found=f"nodes: {hardware.nodes}", expected="a release that runs it on Ray",
                                   fix="pin a newer engine.version, or drop ray from output.formats", code="VC614"))
    if "lws" in formats and built["ray"] is None and built["mp"] is None:
        errors.append(source.error("hardware.nodes", f"the lws target cannot start this layout: {refusals['mp']}; "
                                   f"{refusals['ray']}", found=f"nodes: {hardware.nodes}",
                                   expected="a release with vLLM's multi-node mode or a Ray launch for it",
                                   fix="pin a newer engine.version", code="VC615"))
    if errors:
        raise CompileError(errors)
    preferred = plan.multi_node_backend if built.get(plan.multi_node_backend) else ("mp" if built["mp"] else "ray")
    return MultiNode(nodes=hardware.nodes, gpus_per_node=hardware.count, network=hardware.network,
                     addresses=hardware.node_addresses, ray=built["ray"], mp=built["mp"], preferred=preferred,
                     ray_port=RAY_PORT)
