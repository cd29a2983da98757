"""`vllm-compile predict [--gpu NAME] ... -- vllm serve MODEL [FLAGS...]`: will this command start?"""
from __future__ import annotations

import json
import sys

import click

from vllm_compile.codes import Code
from vllm_compile.diagnostics import CompileError, Diagnostic

GIB = 1 << 30
AUTO_FIT_SINCE = "0.14.0"  # PR #29431 (Nov 2025): after 0.13.0, whose parser takes integers only


@click.command("predict", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--gpu", "gpu_name", default="H100-80GB", show_default=True, help="GPU type (catalog name or nvidia-smi name).")
@click.option("--gpu-memory-gib", default=None, help="Total memory per GPU as the driver reports it.")
@click.option("--vllm-version", default="0.33.0", show_default=True, help="The vLLM release that runs the command.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.argument("command_line", nargs=-1, type=click.UNPROCESSED)
def command(gpu_name, gpu_memory_gib, vllm_version, fmt, command_line):
    """Predict what `vllm serve MODEL [FLAGS]` does on GPU_NAME (count = TP x PP): exit 0 if it
    starts, 1 if vLLM would fail, 2 for bad input. Every flag not given takes that release's default.

    \b
    Example: vllm-compile predict --gpu L4 -- vllm serve Qwen/Qwen3-8B --max-model-len 32768"""
    from vllm_compile.commands._common import report
    from vllm_compile.commands._ledger import ledger_text
    from vllm_compile.plan import plan_deployment

    try:
        request = _request(gpu_name, gpu_memory_gib, vllm_version, list(command_line))
    except CompileError as exc:
        report(exc.diagnostics)
        sys.exit(2)
    plan = plan_deployment(request)
    if fmt == "json":
        click.echo(json.dumps(plan.as_json(), indent=2, sort_keys=True))
    else:
        click.echo(ledger_text(request.model.model_id, plan, request.gpu.name))
    sys.exit(0 if plan.verdict == "ok" else 1)


def _bad(message: str, fix: str, *, code: Code, found: str | None = None) -> CompileError:
    return CompileError([Diagnostic(message, file="<command line>", found=found, fix=fix, code=code)])


def _request(gpu_name, gpu_memory_gib, version, argv):
    import dataclasses
    import math
    import os

    from vllm_compile.engine_args import parse_serve_command
    from vllm_compile.flags import load_manifest
    from vllm_compile.ir.plan import PlanRequest
    from vllm_compile.resolve.hardware import UnknownGpuError, catalog, lookup_gpu
    from vllm_compile.versions import at_least, release_key

    try:
        release_key(version)
    except ValueError:
        raise _bad(f"--vllm-version {version!r} is not a vLLM release", "give a release such as 0.33.0 "
                   "(or 0.8.5.post1)", found=repr(version), code="VC525") from None
    if not argv:
        raise _bad("no vLLM command line given", "append: -- vllm serve MODEL [FLAGS...]", code="VC515")
    try:
        gpu = lookup_gpu(gpu_name)
    except UnknownGpuError as exc:
        near = ", ".join(exc.suggestions) or "see `vllm-compile gpus`"
        raise _bad(f"unknown GPU {gpu_name!r}", f"did you mean {near}?", code="VC516") from None
    if gpu_memory_gib is not None:
        text = gpu_memory_gib
        try:
            gpu_memory_gib = float(text)
        except ValueError:
            raise _bad(f"--gpu-memory-gib {text!r}: expected a memory size in GiB", "give the GPU's total memory "
                       "as the driver reports it, e.g. --gpu-memory-gib 79.6", found=repr(text), code="VC518") from None
        if not math.isfinite(gpu_memory_gib) or not 0 < gpu_memory_gib <= 1 << 20:
            raise _bad(f"--gpu-memory-gib {gpu_memory_gib}: expected a finite memory size above 0 GiB",
                       "give the GPU's total memory as the driver reports it, e.g. --gpu-memory-gib 79.6",
                       found=str(gpu_memory_gib), code="VC518")
        gpu = dataclasses.replace(gpu, memory_bytes=int(gpu_memory_gib * GIB))
    manifest = load_manifest(version)
    engine, problems = parse_serve_command(argv, manifest)
    diagnostics = [Diagnostic(p.message, file="<command line>", column=p.index + 1, found=p.found,
                              expected=p.expected, fix=p.fix, code=p.code,
                              severity="warning" if p.severity == "warning" else "error") for p in problems]
    model_ref = engine.model
    if model_ref is None:
        diagnostics.append(Diagnostic("no model in the command line", file="<command line>",
                                      fix="vllm serve MODEL (a repo id or a local folder)", code="VC510"))
    elif engine.revision is None and engine.given("revision"):
        arg = engine.find("revision")
        diagnostics.append(Diagnostic("--revision is empty", file="<command line>", column=(arg.index + 1 if arg else None),
                                      found='""', expected="a branch, tag or commit", fix="give a revision or leave --revision out", code="VC519"))
    errors = [d for d in diagnostics if d.severity == "error"]
    for warning in (d for d in diagnostics if d.severity != "error"):
        click.echo(warning.format(), err=True)
    if errors or model_ref is None:
        raise CompileError(errors)
    if manifest.warning:
        click.echo(Diagnostic(manifest.warning, file="<command line>", severity="warning", code="VC520").format(),
                   err=True)
    facts = _facts(model_ref, engine)
    values = engine.values()
    tp = engine.tensor_parallel_size or 1
    pp = engine.pipeline_parallel_size or 1
    dp = engine.data_parallel_size or 1
    if pp > facts.num_layers:
        arg = engine.find("pipeline_parallel_size")
        raise CompileError([Diagnostic(
            f"pipeline_parallel_size {pp} is larger than the model's {facts.num_layers} layers",
            file="<command line>", column=(arg.index + 1 if arg else None), found=str(pp),
            expected=f"at most {facts.num_layers} pipeline stages", fix="lower --pipeline-parallel-size", code="VC521")])
    # `auto` / -1 ask the release to fit the length (auto-fit came with the `..._or_auto` type;
    # the flag check already refused `auto` where the release's parser does).
    auto_fit = engine.max_model_len_auto and at_least(version, AUTO_FIT_SINCE)
    return PlanRequest(
        vllm_version=version, model=facts, gpu=gpu, gpu_count=tp * pp * dp, mode="predict",
        data_parallel_size=dp, max_model_len=engine.max_model_len,
        tensor_parallel_size=tp, pipeline_parallel_size=pp,
        gpu_memory_utilization=engine.gpu_memory_utilization,
        kv_cache_dtype=engine.kv_cache_dtype or "auto", max_num_seqs=engine.max_num_seqs,
        max_num_batched_tokens=engine.max_num_batched_tokens, block_size=engine.block_size,
        enforce_eager=engine.enforce_eager, enable_expert_parallel=engine.enable_expert_parallel,
        dtype=engine.dtype or "auto", quantization=engine.quantization,
        disable_hybrid_kv_cache_manager=engine.disable_hybrid_kv_cache_manager,
        mamba_cache_dtype=engine.mamba_cache_dtype or "auto", mamba_ssm_cache_dtype=engine.mamba_ssm_cache_dtype or "auto",
        enable_prefix_caching=engine.enable_prefix_caching, mamba_cache_mode=engine.mamba_cache_mode,
        kv_cache_memory_bytes=engine.kv_cache_memory_bytes,
        allow_long_max_model_len=os.environ.get("VLLM_ALLOW_LONG_MAX_MODEL_LEN") == "1",
        use_v1=_use_v1(os.environ.get("VLLM_USE_V1")),
        auto_fit_max_model_len=auto_fit,
        cpu_offload_bytes=int((engine.cpu_offload_gb or 0) * GIB),
        max_loras=(engine.max_loras or 1) if engine.enable_lora else 0,
        max_lora_rank=engine.max_lora_rank or 16, alternative_gpus=catalog(),
        mm_limits=engine.limit_mm_per_prompt,
        mm_max_pixels=engine.mm_max_pixels, mm_max_tiles=engine.mm_max_tiles,
        skip_mm_profiling=bool(values.get("skip_mm_profiling")),
        language_model_only=bool(values.get("language_model_only")), speculative=_speculative(values))


def _use_v1(value: str | None) -> bool | None:
    """VLLM_USE_V1 as vLLM reads it (an int: "0" is V0, any other number V1); None when unset."""
    if value is None or not value.strip():
        return None
    try:
        return bool(int(value))
    except ValueError:
        return None


def _speculative(values: dict):
    """The drafter of `--speculative-config` (or `--speculative-model`), resolved like the target."""
    from vllm_compile.ir.facts import SpeculativeFacts
    from vllm_compile.ir.engine_args import EngineArgs
    from vllm_compile.plan.assign import speculative_request

    found = speculative_request(values.get("speculative_config"), values.get("speculative_model"),
                                values.get("num_speculative_tokens"))
    if found is None:
        return None
    method, given, count, draft_ref = found
    draft = None
    if draft_ref is not None:
        try:
            draft = _facts(draft_ref, EngineArgs(version=""))
        except CompileError as exc:
            raise _bad(f"speculative draft model {draft_ref!r} cannot be resolved: "
                       + "; ".join(d.message for d in exc.diagnostics),
                       "give a local folder holding its config.json, or a model the catalog or HF cache has",
                       code="VC326", found=draft_ref) from None
    return SpeculativeFacts(method=method, num_speculative_tokens=count, draft=draft, given_method=given)


def _facts(model_ref: str, engine):
    import os

    from vllm_compile.diagnostics import SourceMap
    from vllm_compile.ir.spec import ModelSpec
    from vllm_compile.resolve.models import resolve_model

    is_dir = os.path.isdir(model_ref)
    try:
        spec = ModelSpec(id=None if is_dir else model_ref, path=model_ref if is_dir else None,
                         revision=engine.revision, quantization=engine.quantization)
    except ValueError as exc:  # pydantic's ValidationError: the model argument is not a repo id or folder
        reason = "; ".join(e.get("msg", "") for e in getattr(exc, "errors", lambda: [])()) or str(exc).splitlines()[0]
        raise _bad(f"model {model_ref!r} is neither a Hugging Face repo id nor a local model folder ({reason})",
                   "vllm serve ORG/NAME (a repo id) or a folder holding config.json", found=model_ref,
                   code="VC320") from None
    return resolve_model(spec, spec_dir=os.getcwd(), source=SourceMap("<command line>"), key_prefix="")
