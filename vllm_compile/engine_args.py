"""Engine arguments, parsed once: an argv (a spec's `engine.extra_args`, or what follows
`vllm serve` on a command line) against the pinned release's flag manifest, into the frozen
`ir.engine_args.EngineArgs` that plan, lower and predict all read.

Parsing follows the release's own argparse parser (`vllm_compile.flags`: long and short forms,
`--flag=value`, `--no-flag`, JSON values, nargs, choices). Values are then checked against the
ranges vLLM enforces when it builds its configs, so a value vLLM would refuse is an input error
here, at the token that gave it, and the planner never reads an unchecked value.
"""
from __future__ import annotations

import functools
import math
from dataclasses import replace
from typing import Any, Sequence

from vllm_compile.flags import Manifest, ParsedArg, Problem, parse_args
from vllm_compile.ir.engine_args import EngineArg, EngineArgs

# dest -> (lowest allowed value, what vLLM says). Integers unless noted in _FLOATS.
_AT_LEAST = {
    "tensor_parallel_size": (1, "tensor_parallel_size must be at least 1"),
    "pipeline_parallel_size": (1, "pipeline_parallel_size must be at least 1"),
    "data_parallel_size": (1, "data_parallel_size must be at least 1"),
    "data_parallel_size_local": (0, "data_parallel_size_local must not be negative"),
    "decode_context_parallel_size": (1, "decode_context_parallel_size must be at least 1"),
    "prefill_context_parallel_size": (1, "prefill_context_parallel_size must be at least 1"),
    "max_num_seqs": (1, "max_num_seqs must be at least 1"),
    "max_num_batched_tokens": (1, "max_num_batched_tokens must be at least 1"),
    "block_size": (1, "block_size must be at least 1"),
    "max_loras": (1, "max_loras must be >= 1"),
    "max_lora_rank": (1, "max_lora_rank must be at least 1"),
    "max_cpu_loras": (1, "max_cpu_loras must be at least 1"),
    "cpu_offload_gb": (0, "CPU offload space must be non-negative"),
    "swap_space": (0, "swap_space must be non-negative"),
    "kv_cache_memory_bytes": (0, "kv_cache_memory_bytes must be non-negative"),
    "max_parallel_loading_workers": (1, "max_parallel_loading_workers must be at least 1"),
    "max_seq_len_to_capture": (1, "max_seq_len_to_capture must be at least 1"),
    "num_gpu_blocks_override": (1, "num_gpu_blocks_override must be at least 1"),
}
_TYPED_INT = ("tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size", "max_num_seqs",
              "max_num_batched_tokens", "block_size", "max_loras", "max_lora_rank", "kv_cache_memory_bytes")
_TYPED_STR = ("revision", "kv_cache_dtype", "quantization", "dtype", "mamba_cache_dtype", "mamba_ssm_cache_dtype",
              "mamba_cache_mode")
_TYPED_BOOL = ("enforce_eager", "enable_expert_parallel", "enable_lora", "disable_hybrid_kv_cache_manager")


def _values(args: Sequence[ParsedArg]) -> dict[str, Any]:
    """{dest: value} as argparse leaves it: the last occurrence wins; append actions collect."""
    values: dict[str, Any] = {}
    for arg in args:
        if arg.action == "_AppendAction":
            values.setdefault(arg.dest, []).append(arg.value)
        else:
            values[arg.dest] = arg.value
    return values


def _check(arg: ParsedArg, manifest: Manifest) -> Problem | None:
    """The range check vLLM applies to one flag's value, as a Problem at its token."""
    value = arg.value
    shown = arg.raw[0] if arg.raw else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return Problem(arg.index, f"invalid value {shown!r} for {arg.option}: not a finite number", found=shown,
                       expected="a finite number", fix=f"give {arg.option} a finite number", code="VC506")
    if arg.dest == "gpu_memory_utilization" and isinstance(value, (int, float)) and not 0 < value <= 1:
        return Problem(arg.index, f"{arg.option} {shown}: GPU memory utilization must be in (0, 1]",
                       found=shown, expected="a fraction above 0 and at most 1, e.g. 0.9",
                       fix=f"give {arg.option} a fraction such as 0.9", code="VC522")
    if arg.dest == "max_model_len" and isinstance(value, int) and not isinstance(value, bool):
        auto = "human_readable_int_or_auto" in (manifest.flags[arg.option].get("type") or "")
        if value == -1 and auto:
            return None
        if value < 1:
            what = "at least 1, or auto (-1)" if auto else "at least 1"
            return Problem(arg.index, f"{arg.option} {shown}: max_model_len must be {what}", found=shown,
                           expected=what, fix=f"give {arg.option} a token count such as 4096, or leave it out", code="VC522")
    if arg.dest == "limit_mm_per_prompt" and isinstance(value, dict):
        return _check_mm_limits(arg, value, manifest.version)
    if arg.dest == "mm_processor_kwargs":
        return _check_mm_processor_kwargs(arg)
    if arg.dest in _AT_LEAST and isinstance(value, (int, float)) and not isinstance(value, bool):
        low, message = _AT_LEAST[arg.dest]
        if value < low:
            return Problem(arg.index, f"{arg.option} {shown}: {message}", found=shown,
                           expected=f"a number >= {low}", fix=f"give {arg.option} a value of at least {low}", code="VC522")
    return None


# How a release reads each modality's `--limit-mm-per-prompt` value (vllm/config.py, later
# vllm/config/multimodal.py): before 0.9.1 the configs are plain dataclasses, which keep a text
# "2" (what `--limit-mm-per-prompt.image 2` gives on 0.9.0) as text; from 0.9.1 pydantic converts
# it to an integer (dict[str, int]); from 0.11.1 a value is an integer count or an options object
# ({"count": N, "width": ...}, count >= 0), and a bare text is refused (the validator unpacks it).
_CONFIGS_CONVERT_SINCE = "0.9.1"
_DUMMY_OPTIONS_SINCE = "0.11.1"


def _check_mm_limits(arg: ParsedArg, value: dict, version: str) -> Problem | None:
    """Each modality's limit as the release's MultiModalConfig takes it, or the Problem vLLM
    would raise for it."""
    from vllm_compile.versions import release_key

    key = release_key(version)
    converts, options = key >= release_key(_CONFIGS_CONVERT_SINCE), key >= release_key(_DUMMY_OPTIONS_SINCE)
    for modality, limit in value.items():
        boxed = options and isinstance(limit, dict)   # {"count": N, ...}: a pydantic int field
        count = limit.get("count", 0) if boxed else limit
        number = isinstance(count, int) and not isinstance(count, bool)
        digits = isinstance(count, str) and count.strip().isdigit()
        if number and (count >= 0 or not options):
            continue
        if digits and (boxed or (converts and not options)):
            continue
        if digits:
            why = ("does not convert text" if not converts else
                   "reads a bare count only as a JSON integer")
            return Problem(arg.index, f"vLLM {version} {why}: the {modality} limit {count!r} of {arg.option} "
                           "would not be a count", found=repr(count), expected="an integer count per modality",
                           fix=f"write {arg.option} '{{\"{modality}\": {count.strip()}}}' (a JSON integer)"
                               + ("" if converts else f", or pin vLLM {_CONFIGS_CONVERT_SINCE} or newer, where "
                                  f"`{arg.option}.{modality} {count.strip()}` works"), code="VC526")
        shape = "a whole number of items, 0 or more" + (', or {"count": N, ...}' if options else "")
        since = "" if options or not isinstance(limit, dict) else f' ({{"count": N}} options came in {_DUMMY_OPTIONS_SINCE})'
        return Problem(arg.index, f"{arg.option}: the {modality} limit {limit!r} is not a count of items{since}",
                       found=repr(limit), expected=shape,
                       fix=f"give {modality} a count such as 1 (0 skips its profiling)", code="VC522")
    return None


# The `--mm-processor-kwargs` keys the planner reads: each sizes the largest item the processor
# makes, so the profile run's dummy item (a count of pixels, of tiles).
MM_PROCESSOR_SIZES = {"max_pixels": "mm_max_pixels", "max_dynamic_patch": "mm_max_tiles"}


def _json_object(value: object) -> dict | None:
    import json

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def _check_mm_processor_kwargs(arg: ParsedArg) -> Problem | None:
    """A size key of `--mm-processor-kwargs` must be a whole number of at least 1: the processor
    uses it as a bound (max_pixels) or a range end (max_dynamic_patch), and anything else would
    stop vLLM's profile run or leave the planner guessing the item's size."""
    given = _json_object(arg.value) or {}
    for key in MM_PROCESSOR_SIZES:
        if key not in given:
            continue
        size = given[key]
        if isinstance(size, int) and not isinstance(size, bool) and size >= 1:
            continue
        return Problem(arg.index, f"{arg.option}: {key} {size!r} is not a size the processor can use",
                       found=repr(size), expected=f"{key} as a whole number, at least 1",
                       fix=f"give {key} a whole number such as {12 if key == 'max_dynamic_patch' else 1003520}, "
                           "or leave the key out (the checkpoint's processor default)", code="VC522")
    return None


def mm_processor_sizes(value: object) -> dict[str, int]:
    """The EngineArgs fields the size keys of `--mm-processor-kwargs` set (checked values only)."""
    given = _json_object(value) or {}
    return {field: given[key] for key, field in MM_PROCESSOR_SIZES.items()
            if isinstance(given.get(key), int) and not isinstance(given[key], bool) and given[key] >= 1}


def mm_limits(value: object) -> tuple[tuple[str, int], ...]:
    """`--limit-mm-per-prompt` as (modality, limit) pairs, from its parsed value (a JSON object,
    the older `image=2,video=0` pairs, or the object the dotted `--limit-mm-per-prompt.image 2`
    keys build); newer releases also take {"count": N, ...} per modality."""
    import json

    if isinstance(value, str):
        text = value
        try:
            value = json.loads(text)
        except ValueError:
            value = {k.strip(): v.strip() for k, _, v in (p.partition("=") for p in text.split(",") if "=" in p)}
    if not isinstance(value, dict):
        return ()
    out = []
    for modality, limit in sorted(value.items()):
        # An options object without a count means vLLM's default, 999 (BaseDummyOptions).
        count: Any = limit.get("count", 999) if isinstance(limit, dict) else limit
        try:
            out.append((str(modality), int(count)))
        except (TypeError, ValueError):
            continue
    return tuple(out)


def from_parsed(tokens: Sequence[str], manifest: Manifest, args: Sequence[ParsedArg],
                positionals: Sequence[tuple[int, str]], problems: Sequence[Problem],
                model: str | None = None) -> tuple[EngineArgs, tuple[Problem, ...]]:
    """The typed object for parsed flags, and every problem (the parser's and the range checks)."""
    found = list(problems)
    good: list[ParsedArg] = []
    for arg in args:
        problem = _check(arg, manifest)
        if problem:
            found.append(problem)
        else:
            good.append(arg)
    values = _values(good)
    typed: dict[str, Any] = {}
    for dest in _TYPED_INT:
        if isinstance(values.get(dest), int) and not isinstance(values.get(dest), bool):
            typed[dest] = values[dest]
    for dest in _TYPED_STR:
        if isinstance(values.get(dest), str) and values[dest]:
            typed[dest] = values[dest]
    for dest in _TYPED_BOOL:
        typed[dest] = bool(values.get(dest))
    length = values.get("max_model_len")
    if isinstance(length, int) and not isinstance(length, bool):
        if length == -1:
            typed["max_model_len_auto"] = True
        else:
            typed["max_model_len"] = length
    for dest in ("gpu_memory_utilization", "cpu_offload_gb"):
        if isinstance(values.get(dest), (int, float)) and not isinstance(values.get(dest), bool):
            typed[dest] = float(values[dest])
    if isinstance(values.get("enable_prefix_caching"), bool):   # tri-state: absent = the release's default
        typed["enable_prefix_caching"] = values["enable_prefix_caching"]
    limits = mm_limits(values.get("limit_mm_per_prompt"))
    if limits:
        typed["limit_mm_per_prompt"] = limits
    typed.update(mm_processor_sizes(values.get("mm_processor_kwargs")))
    if values.get("speculative_config") is not None:
        typed["speculative_config"] = values["speculative_config"]
    if model is None and isinstance(values.get("model"), str):
        model = values["model"]
    found += _cross_checks(typed, good)
    engine = EngineArgs(
        version=manifest.version, tokens=tuple(tokens), model=model,
        args=tuple(EngineArg(a.index, a.option, a.dest, a.value, a.raw, a.action) for a in args),
        positionals=tuple(positionals), **typed)
    return engine, tuple(found)


def _cross_checks(typed: dict[str, Any], args: Sequence[ParsedArg]) -> list[Problem]:
    seqs, tokens = typed.get("max_num_seqs"), typed.get("max_num_batched_tokens")
    if seqs is not None and tokens is not None and tokens < seqs:
        at = max(a.index for a in args if a.dest in ("max_num_seqs", "max_num_batched_tokens"))
        return [Problem(at, f"max_num_batched_tokens ({tokens}) must be greater than or equal to max_num_seqs ({seqs})",
                        found=str(tokens), expected=f"max_num_batched_tokens >= {seqs}",
                        fix="raise --max-num-batched-tokens or lower --max-num-seqs", code="VC523")]
    return []


def parse_engine_args(tokens: Sequence[str], manifest: Manifest) -> tuple[EngineArgs, tuple[Problem, ...]]:
    """A spec's `engine.extra_args`: flags only (positions index the list)."""
    result = parse_args(tokens, manifest)
    return from_parsed(tokens, manifest, result.args, result.positionals, result.problems)


def parse_serve_command(argv: Sequence[str], manifest: Manifest) -> tuple[EngineArgs, tuple[Problem, ...]]:
    """A `[vllm serve] MODEL [FLAGS]` command line, as the release's parser reads it (unique
    abbreviations allowed, with a warning). Positions index `argv` as given."""
    argv = list(argv)
    skip = 0
    for word in ("vllm", "serve"):
        if argv[skip:skip + 1] == [word]:
            skip += 1
    result = parse_args(argv[skip:], manifest, allow_abbrev=True)
    problems = [replace(p, index=p.index + skip) for p in result.problems]
    args = [replace(a, index=a.index + skip) for a in result.args]
    positionals = [(i + skip, t) for i, t in result.positionals]
    model = positionals[0][1] if positionals else None
    for index, extra in positionals[1:]:
        problems.append(Problem(index, f"unrecognized argument {extra!r}", found=extra,
                                expected="flags after the model", fix="remove it or give it its flag", code="VC509"))
    spec = manifest.positionals.get("model_tag", {})
    if not positionals and spec and spec.get("nargs") is None:
        problems.append(Problem(skip, f"vLLM {manifest.version} requires the model as `vllm serve MODEL`",
                                found="no positional model", expected="vllm serve MODEL [flags]",
                                fix="put the model right after `vllm serve`", code="VC510"))
    return from_parsed(argv, manifest, args, positionals, problems, model=model)


def parse_serve_args(argv: Sequence[str], manifest: Manifest) -> tuple[str | None, dict[str, Any], tuple[Problem, ...]]:
    """`parse_serve_command` as (model, {dest: value}, problems): for reading an emitted line back."""
    engine, problems = parse_serve_command(argv, manifest)
    return engine.model, engine.values(), problems


# Spec keys that set a flag themselves: the flag in engine.extra_args would clash with them.
SPEC_KEYS = {
    "tensor_parallel_size": "engine.tensor_parallel_size",
    "pipeline_parallel_size": "engine.pipeline_parallel_size",
    "max_model_len": "workload.max_model_len",
    "gpu_memory_utilization": "engine.gpu_memory_utilization",
    "kv_cache_dtype": "engine.kv_cache_dtype",
    "max_num_seqs": "engine.max_num_seqs",
    "max_num_batched_tokens": "engine.max_num_batched_tokens",
    "block_size": "engine.block_size",
    "enforce_eager": "engine.enforce_eager",
    "enable_expert_parallel": "engine.enable_expert_parallel",
    "dtype": "model.dtype",
    "quantization": "model.quantization",
    "revision": "model.revision",
    "served_model_name": "model.served_model_name",
    "trust_remote_code": "model.trust_remote_code",
}


@functools.lru_cache(maxsize=256)
def parse_extra_args(version: str, extra_args: tuple[str, ...]) -> tuple[EngineArgs, tuple[Problem, ...]]:
    """`engine.extra_args` of a spec pinned to `version` (cached: a spec's engine is parsed once)."""
    from vllm_compile.flags import load_manifest

    return parse_engine_args(extra_args, load_manifest(version))
