"""`vllm-compile predict [--gpu NAME] ... -- vllm serve MODEL [FLAGS...]`: will this command start?"""
from __future__ import annotations

import json
import sys

import click

from vllm_compile.diagnostics import CompileError, Diagnostic

GIB = 1 << 30
AUTO_FIT_SINCE = "0.14.0"  # PR #29431 (Nov 2025): after 0.13.0, whose parser takes integers only


@click.command("predict", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--gpu", "gpu_name", default="H100-80GB", show_default=True, help="GPU type (catalog name or nvidia-smi name).")
@click.option("--gpu-memory-gib", type=float, default=None, help="Total memory per GPU as the driver reports it.")
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


def _bad(message: str, fix: str, found: str | None = None) -> CompileError:
    return CompileError([Diagnostic(message, file="<command line>", found=found, fix=fix)])


def _request(gpu_name, gpu_memory_gib, version, argv):
    import dataclasses
    import os

    from vllm_compile.ir.plan import PlanRequest
    from vllm_compile.plan.assign import mm_limits
    from vllm_compile.lower.flags import load_manifest, parse_serve_args
    from vllm_compile.resolve.hardware import UnknownGpuError, catalog, lookup_gpu
    from vllm_compile.versions import at_least

    if not argv:
        raise _bad("no vLLM command line given", "append: -- vllm serve MODEL [FLAGS...]")
    try:
        gpu = lookup_gpu(gpu_name)
    except UnknownGpuError as exc:
        near = ", ".join(exc.suggestions) or "see `vllm-compile gpus`"
        raise _bad(f"unknown GPU {gpu_name!r}", f"did you mean {near}?") from None
    if gpu_memory_gib:
        gpu = dataclasses.replace(gpu, memory_bytes=int(gpu_memory_gib * GIB))
    manifest = load_manifest(version)
    model_ref, values, problems = parse_serve_args(argv, manifest)
    diagnostics = [Diagnostic(p.message, file="<command line>", column=p.index + 1, found=p.found,
                              expected=p.expected, fix=p.fix) for p in problems]
    if model_ref is None:
        diagnostics.append(Diagnostic("no model in the command line", file="<command line>",
                                      fix="vllm serve MODEL (a repo id or a local folder)"))
    if diagnostics or model_ref is None:
        raise CompileError(diagnostics)
    if manifest.warning:
        click.echo(f"warning: {manifest.warning}", err=True)
    facts = _facts(model_ref, values)
    speculative = _speculative(values)
    tp = int(values.get("tensor_parallel_size") or 1)
    pp = int(values.get("pipeline_parallel_size") or 1)
    dp = int(values.get("data_parallel_size") or 1)
    max_len = values.get("max_model_len")
    # `auto` / -1 ask the release to fit the length (auto-fit came with the `..._or_auto` type;
    # the flag check above already refused `auto` where the release's parser does).
    auto_fit = max_len in (-1, "-1", "auto") and at_least(version, AUTO_FIT_SINCE)
    return PlanRequest(
        vllm_version=version, model=facts, gpu=gpu, gpu_count=tp * pp * dp, mode="predict",
        data_parallel_size=dp,
        max_model_len=int(max_len) if max_len not in (None, -1, "auto", "-1") else None,
        tensor_parallel_size=tp, pipeline_parallel_size=pp,
        gpu_memory_utilization=values.get("gpu_memory_utilization"),
        kv_cache_dtype=values.get("kv_cache_dtype") or "auto", max_num_seqs=values.get("max_num_seqs"),
        max_num_batched_tokens=values.get("max_num_batched_tokens"), block_size=values.get("block_size"),
        enforce_eager=bool(values.get("enforce_eager")), enable_expert_parallel=bool(values.get("enable_expert_parallel")),
        dtype=str(values.get("dtype") or "auto"), quantization=values.get("quantization"),
        disable_hybrid_kv_cache_manager=bool(values.get("disable_hybrid_kv_cache_manager")),
        kv_cache_memory_bytes=values.get("kv_cache_memory_bytes"),
        allow_long_max_model_len=os.environ.get("VLLM_ALLOW_LONG_MAX_MODEL_LEN") == "1",
        auto_fit_max_model_len=auto_fit,
        cpu_offload_bytes=int(float(values.get("cpu_offload_gb") or 0) * GIB),
        max_loras=int(values.get("max_loras") or 1) if values.get("enable_lora") else 0,
        max_lora_rank=int(values.get("max_lora_rank") or 16), alternative_gpus=catalog(),
        mm_limits=mm_limits(values.get("limit_mm_per_prompt")),
        mm_max_pixels=mm_max_pixels(values.get("mm_processor_kwargs")),
        skip_mm_profiling=bool(values.get("skip_mm_profiling")),
        language_model_only=bool(values.get("language_model_only")), speculative=speculative)


def _speculative(values: dict):
    """The drafter of `--speculative-config` (or `--speculative-model`), resolved like the target."""
    from vllm_compile.ir.facts import SpeculativeFacts
    from vllm_compile.plan.assign import speculative_request

    found = speculative_request(values.get("speculative_config"), values.get("speculative_model"),
                                values.get("num_speculative_tokens"))
    if found is None:
        return None
    method, given, count, draft_ref = found
    draft = None
    if draft_ref is not None:
        try:
            draft = _facts(draft_ref, {})
        except CompileError as exc:
            raise _bad(f"speculative draft model {draft_ref!r} cannot be resolved: "
                       + "; ".join(d.message for d in exc.diagnostics),
                       "give a local folder holding its config.json, or a model the catalog or HF cache has",
                       found=draft_ref) from None
    return SpeculativeFacts(method=method, num_speculative_tokens=count, draft=draft, given_method=given)


def mm_max_pixels(value) -> int | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    pixels = value.get("max_pixels") if isinstance(value, dict) else None
    return int(pixels) if isinstance(pixels, (int, float)) and pixels > 0 else None


def _facts(model_ref: str, values: dict):
    import os

    from vllm_compile.diagnostics import SourceMap
    from vllm_compile.ir.spec import ModelSpec
    from vllm_compile.resolve.models import resolve_model

    is_dir = os.path.isdir(model_ref)
    spec = ModelSpec(id=None if is_dir else model_ref, path=model_ref if is_dir else None,
                     revision=values.get("revision"), quantization=values.get("quantization"))
    return resolve_model(spec, spec_dir=os.getcwd(), source=SourceMap("<command line>"), key_prefix="")
