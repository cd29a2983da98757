"""Plan -> the `vllm serve` argument list, checked against the pinned release's flags.

The compiler emits each knob explicitly (so the artifact says what the planner assumed) and
then the spec's `engine.extra_args`. Every token is checked against the release manifest; a
problem is reported at the spec key that produced the token.
"""
from __future__ import annotations

from vllm_compile.fastclass import dataclass
from typing import TYPE_CHECKING

from vllm_compile.diagnostics import CompileError, Diagnostic, SourceMap
from vllm_compile.flags import Manifest, parse_args

if TYPE_CHECKING:  # annotations only: the pydantic spec model is costly to import
    from vllm_compile.codes import Code
    from vllm_compile.ir.engine_args import EngineArgs
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


def compiler_args(dep: DeploymentSpec, plan: Plan, model: ModelFacts, model_ref: str,
                  engine_args: EngineArgs | None = None, adapter_refs: tuple[str, ...] = ()) -> tuple[Arg, ...]:
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
    if plan.data_parallel_size > 1 and not (engine_args is not None and engine_args.given("data_parallel_size")):
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
    if spec_model.lora_adapters:
        # What the planner counted: a slot per adapter and the largest rank (unless extra_args set them).
        key = "model.lora_adapters"
        out.append(Arg("--enable-lora", (), key))
        given = engine_args.given if engine_args is not None else (lambda dest: False)
        if not given("max_loras"):
            out.append(Arg("--max-loras", (str(plan.max_loras),), key))
        if not given("max_lora_rank"):
            out.append(Arg("--max-lora-rank", (str(plan.max_lora_rank),), key))
        # name=path, the form every release's --lora-modules accepts (JSON came later).
        out.append(Arg("--lora-modules", tuple(f"{a.name}={ref}" for a, ref in
                                               zip(spec_model.lora_adapters, adapter_refs)), key))
    return tuple(out)


def lower_args(dep: DeploymentSpec, plan: Plan, model: ModelFacts, manifest: Manifest, *,
               source: SourceMap, key_prefix: str, model_ref: str,
               engine_args: EngineArgs | None = None, adapter_refs: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The full argv after the image (or after `vllm serve`); raises CompileError on any problem.
    The flags the compiler emits are checked against the release here; `engine.extra_args` come
    parsed once (the parse stage's `EngineArgs`), and are checked against what the compiler emits."""
    from vllm_compile.engine_args import parse_extra_args

    extra = engine_args or parse_extra_args(dep.engine.version, tuple(dep.engine.extra_args))[0]
    emitted = compiler_args(dep, plan, model, model_ref, extra, adapter_refs)
    argv: list[str] = []
    keys: list[str] = []
    for emitted_arg in emitted:
        argv += [emitted_arg.flag, *emitted_arg.values]
        keys += [emitted_arg.key] * (1 + len(emitted_arg.values))
    result = parse_args(argv, manifest)
    extra_problems = () if engine_args is not None else parse_extra_args(dep.engine.version,
                                                                          tuple(dep.engine.extra_args))[1]
    errors: list[Diagnostic] = []

    def report(key: str, message: str, *, code: Code, found: str | None = None, expected: str | None = None,
               fix: str | None = None) -> None:
        errors.append(source.error(key_prefix + key, message, code=code, found=found, expected=expected, fix=fix))

    def extra_key(index: int) -> str:
        return f"engine.extra_args[{index}]"

    for problem in result.problems:
        report(keys[problem.index], problem.message, found=problem.found, expected=problem.expected, fix=problem.fix,
               code=problem.code)
    for problem in extra_problems:
        if problem.severity == "error":
            report(extra_key(problem.index), problem.message, found=problem.found, expected=problem.expected,
                   fix=problem.fix, code=problem.code)
    for index, token in extra.positionals:
        report(extra_key(index), f"extra argument {token!r} is not a flag", found=token,
               expected="--flag or --flag=value",
               fix="extra_args holds flags only: put a value right after its flag (or write --flag=value); "
                   + OWNED_FLAGS["model"], code="VC511")

    owners = {arg.dest: arg for arg in result.args}
    seen: dict[str, object] = {}
    for arg in extra.args:
        if arg.dest in SECRET_FLAGS and (arg.dest != "hf_token" or arg.raw):
            report(extra_key(arg.index), f"{arg.option} would write a secret into the artifacts", found=arg.option,
                   expected="the secret passed by environment variable",
                   fix=f"remove it and set {SECRET_FLAGS[arg.dest]} to the name of the variable holding it",
                   code="VC211")
        elif arg.dest in OWNED_FLAGS:
            report(extra_key(arg.index), f"{arg.option} cannot be set in engine.extra_args", found=arg.option,
                   expected="a flag vllm-compile does not manage", fix=OWNED_FLAGS[arg.dest], code="VC512")
        elif arg.dest in owners:
            own = owners[arg.dest]
            origin = keys[own.index]
            report(extra_key(arg.index), f"{arg.option} duplicates {own.option}, which vllm-compile emits from {origin}",
                   found=arg.option, expected="each flag once", fix=f"remove it and set {origin} instead", code="VC513")
        elif arg.dest in seen and arg.action != "_AppendAction":
            report(extra_key(arg.index), f"{arg.option} is given twice in engine.extra_args (vLLM would keep the last)",
                   found=arg.option, expected="each flag once", fix=f"keep one {arg.option}", code="VC514")
        seen[arg.dest] = arg
    if errors:
        raise CompileError(sorted(errors, key=lambda d: (d.line or 0, d.column or 0)))
    return tuple(argv) + tuple(extra.tokens)
