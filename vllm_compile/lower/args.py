"""Plan -> the `vllm serve` argument list, checked against the pinned release's flags.

The compiler emits each knob explicitly (so the artifact says what the planner assumed) and
then the spec's `engine.extra_args`. Every token is checked against the release manifest; a
problem is reported at the spec key that produced the token.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vllm_compile.diagnostics import CompileError, Diagnostic, SourceMap
from vllm_compile.lower.flags import Manifest, parse_args

if TYPE_CHECKING:  # annotations only: the pydantic spec model is costly to import
    from vllm_compile.ir.facts import ModelFacts
    from vllm_compile.ir.plan import Plan
    from vllm_compile.ir.spec import DeploymentSpec

# Flags that would put a secret into the artifact, with the spec key that passes it by reference.
SECRET_FLAGS = {"api_key": "server.api_key_env", "hf_token": "server.hf_token_env"}
# Flags the container layout owns: the model, and where the server listens inside the container.
OWNED_FLAGS = {
    "model": "the model comes from model.id (or model.path)",
    "model_tag": "the model comes from model.id (or model.path)",
    "host": "the server listens on 0.0.0.0 inside the container",
    "port": "the server listens on port 8000 inside the container; server.port sets the host port",
    "uds": "the server listens on TCP port 8000 inside the container",
}


@dataclass(frozen=True, slots=True)
class Arg:
    """One flag the compiler emits, and the spec key it comes from (for error positions)."""

    flag: str
    values: tuple[str, ...]
    key: str


def _number(value: float) -> str:
    # Shortest text that reads back as the same float, without a trailing ".0" for whole numbers.
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def compiler_args(dep: DeploymentSpec, plan: Plan, model: ModelFacts, model_ref: str) -> tuple[Arg, ...]:
    """The flags the plan and spec call for, in a fixed order."""
    spec_model, engine = dep.model, dep.engine
    out = [Arg("--model", (model_ref,), "model.path" if spec_model.path else "model.id")]
    if spec_model.revision and not spec_model.path:
        out.append(Arg("--revision", (spec_model.revision,), "model.revision"))
    # A local model is served under its repo id when one is given, not under its mount path.
    served = spec_model.served_model_name or (spec_model.id if spec_model.path else None)
    if served:
        out.append(Arg("--served-model-name", (served,), "model.served_model_name"))
    if spec_model.trust_remote_code:
        out.append(Arg("--trust-remote-code", (), "model.trust_remote_code"))
    if spec_model.dtype != "auto" or plan.dtype != model.dtype:
        out.append(Arg("--dtype", (plan.dtype,), "model.dtype"))
    if spec_model.quantization:
        out.append(Arg("--quantization", (spec_model.quantization,), "model.quantization"))
    out.append(Arg("--tensor-parallel-size", (str(plan.tensor_parallel_size),), "engine.tensor_parallel_size"))
    if plan.pipeline_parallel_size > 1:
        out.append(Arg("--pipeline-parallel-size", (str(plan.pipeline_parallel_size),),
                       "engine.pipeline_parallel_size"))
    if plan.data_parallel_size > 1 and not _sets_data_parallel(engine.extra_args):
        # Chosen by the planner (replicas over nodes); a size pinned in extra_args stays there.
        out.append(Arg("--data-parallel-size", (str(plan.data_parallel_size),), "hardware.nodes"))
    if plan.enable_expert_parallel:
        out.append(Arg("--enable-expert-parallel", (), "engine.enable_expert_parallel"))
    out.append(Arg("--max-model-len", (str(plan.max_model_len),), "workload.max_model_len"))
    out.append(Arg("--gpu-memory-utilization", (_number(plan.gpu_memory_utilization),),
                   "engine.gpu_memory_utilization"))
    if plan.kv_cache_dtype != "auto":
        out.append(Arg("--kv-cache-dtype", (plan.kv_cache_dtype,), "engine.kv_cache_dtype"))
    if engine.block_size is not None:
        out.append(Arg("--block-size", (str(plan.block_size),), "engine.block_size"))
    out.append(Arg("--max-num-seqs", (str(plan.max_num_seqs),), "engine.max_num_seqs"))
    out.append(Arg("--max-num-batched-tokens", (str(plan.max_num_batched_tokens),), "engine.max_num_batched_tokens"))
    if plan.enforce_eager:
        out.append(Arg("--enforce-eager", (), "engine.enforce_eager"))
    return tuple(out)


def _sets_data_parallel(extra_args) -> bool:
    return any(token.split("=", 1)[0].replace("_", "-") in ("--data-parallel-size", "-dp") for token in extra_args)


def lower_args(dep: DeploymentSpec, plan: Plan, model: ModelFacts, manifest: Manifest, *,
               source: SourceMap, key_prefix: str, model_ref: str) -> tuple[str, ...]:
    """The full argv after the image (or after `vllm serve`); raises CompileError on any problem."""
    emitted = compiler_args(dep, plan, model, model_ref)
    argv: list[str] = []
    keys: list[str] = []
    for emitted_arg in emitted:
        argv += [emitted_arg.flag, *emitted_arg.values]
        keys += [emitted_arg.key] * (1 + len(emitted_arg.values))
    first_extra = len(argv)
    argv += dep.engine.extra_args
    keys += [f"engine.extra_args[{i}]" for i in range(len(dep.engine.extra_args))]

    result = parse_args(argv, manifest)
    errors: list[Diagnostic] = []

    def report(index: int, message: str, **kw) -> None:
        errors.append(source.error(key_prefix + keys[index], message, **kw))

    for problem in result.problems:
        report(problem.index, problem.message, found=problem.found, expected=problem.expected, fix=problem.fix)
    for index, token in result.positionals:
        report(index, f"extra argument {token!r} is not a flag", found=token,
               expected="--flag or --flag=value",
               fix="extra_args holds flags only: put a value right after its flag (or write --flag=value); "
                   + OWNED_FLAGS["model"])

    owners = {arg.dest: arg for arg in result.args if arg.index < first_extra}
    seen: dict[str, object] = {}
    for arg in result.args:
        if arg.index < first_extra:
            continue
        if arg.dest in SECRET_FLAGS and (arg.dest != "hf_token" or arg.raw):
            report(arg.index, f"{arg.option} would write a secret into the artifacts", found=arg.option,
                   expected="the secret passed by environment variable",
                   fix=f"remove it and set {SECRET_FLAGS[arg.dest]} to the name of the variable holding it")
        elif arg.dest in OWNED_FLAGS:
            report(arg.index, f"{arg.option} cannot be set in engine.extra_args", found=arg.option,
                   expected="a flag vllm-compile does not manage", fix=OWNED_FLAGS[arg.dest])
        elif arg.dest in owners:
            own = owners[arg.dest]
            origin = keys[own.index]
            report(arg.index, f"{arg.option} duplicates {own.option}, which vllm-compile emits from {origin}",
                   found=arg.option, expected="each flag once", fix=f"remove it and set {origin} instead")
        elif arg.dest in seen and arg.action != "_AppendAction":
            report(arg.index, f"{arg.option} is given twice in engine.extra_args (vLLM would keep the last)",
                   found=arg.option, expected="each flag once", fix=f"keep one {arg.option}")
        seen[arg.dest] = arg
    if errors:
        raise CompileError(sorted(errors, key=lambda d: (d.line or 0, d.column or 0)))
    return tuple(argv)
