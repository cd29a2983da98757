"""Text renderings of a plan: the compact ledger (`plan`) and the full explanation (`explain`)."""
from __future__ import annotations

from vllm_compile.ir.plan import yaml_scalar

GIB = 1 << 30

ROWS = (("weights", "weights_bytes"), ("activation peak", "activation_bytes"), ("non-torch", "non_torch_bytes"),
        ("CUDA graphs", "cuda_graph_bytes"), ("KV cache", "kv_cache_bytes"))


def _gib(n: int) -> str:
    return f"{n / GIB:8.2f} GiB"


def _amount(n: int) -> str:
    """A ledger amount; a deficit reads as one, never as negative memory."""
    return _gib(n) if n >= 0 else f"    none: short by {-n / GIB:.2f} GiB"


def kv_dtype_text(plan) -> str:
    """`auto (bfloat16)`: vLLM's auto is the model's dtype, said so."""
    if plan.kv_cache_format:     # sparse MLA: stored as fp8_ds_mla
        return f"{plan.kv_cache_dtype} ({plan.kv_cache_format})"
    return plan.kv_cache_dtype if plan.kv_cache_dtype != "auto" else f"auto ({plan.dtype})"


def summary_line(name: str, plan, defaulted_version: str | None = None) -> str:
    """One line per deployment for `compile`: the knobs a reader checks first, and the release
    used when the spec leaves engine.version unset."""
    kv = kv_dtype_text(plan)
    note = (f"; engine.version not set: using {defaulted_version}, the newest bundled release"
            if defaulted_version else "")
    return (f"{name}: tensor_parallel_size {plan.tensor_parallel_size}, max_model_len {plan.max_model_len}, "
            f"kv_cache_dtype {kv}, max concurrency {plan.max_concurrency:.2f}x "
            f"(workload.concurrency {plan.concurrency_goal}){note}")


def ledger_text(name: str, plan, gpu_name: str) -> str:
    led = plan.per_gpu
    where = (f"{plan.nodes} nodes x {plan.gpus // plan.nodes} x {gpu_name}" if plan.nodes > 1
             else f"{plan.gpus} x {gpu_name}")
    lines = [f"{name}: vLLM {plan.vllm_version} ({plan.engine}) on {where}, "
             f"tensor_parallel_size {plan.tensor_parallel_size}, pipeline_parallel_size {plan.pipeline_parallel_size}",
             f"  total memory          {_gib(led.total_bytes)}",
             f"  requested ({plan.gpu_memory_utilization:.2f})     {_gib(led.requested_bytes)}"]
    outside = "" if _budgeted(plan) else "  (outside the budget)"
    encoder = {"weights_bytes": led.encoder_weights_bytes, "activation_bytes": led.encoder_activation_bytes}
    for label, attr in ROWS:
        if attr == "kv_cache_bytes" and plan.state_bytes_per_sequence:
            label = "state cache"   # no attention layer: vLLM's KV cache holds only Mamba states
        value = getattr(led, attr)
        note = outside if attr == "cuda_graph_bytes" else ""
        lines.append(f"  {label:<21} {_amount(value)}{note}")
        if encoder.get(attr):
            towers = {"audio": "audio tower + projector", "image+audio": "vision and audio towers + projectors"}
            what = (towers.get(getattr(plan, "encoder_towers", ""), "vision tower + projector")
                    if attr == "weights_bytes" else
                    f"dummy {led.encoder_modality or 'image'} batch through the tower, embeddings cached")
            lines.append(f"    of which encoder    {_gib(encoder[attr])}  ({what})")
    if plan.state_bytes_per_sequence:
        # No attention layer (pure Mamba): nothing grows per token; vLLM's block spans max_model_len.
        lines += [f"  state bytes/seq/GPU   {plan.state_bytes_per_sequence:>12,}  (no attention: a fixed state per "
                  f"running sequence, no per-token KV)",
                  f"  GPU KV cache size     {plan.kv_cache_tokens:>12,} tokens  (state slots x max_model_len, as vLLM "
                  f"counts it)",
                  f"  max concurrency       {plan.max_concurrency:>12.2f}x at {plan.max_model_len:,} tokens  (state slots)",
                  f"  kv_cache_dtype        {kv_dtype_text(plan):>12}",
                  f"  recurrent state       {plan.num_gpu_blocks:>12,} state slots of {plan.block_size:,} tokens "
                  f"(max_model_len); each running sequence holds {plan.state_blocks_per_sequence or 1} of "
                  f"{plan.state_page_bytes / (1 << 20):.2f} MiB per layer"]
    else:
        lines += [f"  KV bytes/token/GPU    {led.kv_bytes_per_token:>12,}",
                  f"  GPU KV cache size     {plan.kv_cache_tokens:>12,} tokens",
                  f"  max concurrency       {plan.max_concurrency:>12.2f}x at {plan.max_model_len:,} tokens",
                  f"  kv_cache_dtype        {kv_dtype_text(plan):>12}"]
    if plan.state_page_bytes and not plan.state_bytes_per_sequence:
        held = (f"{plan.state_blocks_per_sequence} state block(s)" if plan.state_blocks_per_sequence
                else "a state block per attention block (Mamba cache mode all)")
        lines.append(f"  recurrent state       {plan.block_size:>12,}-token blocks; each running sequence holds {held} of "
                     f"{plan.state_page_bytes / (1 << 20):.2f} MiB per layer in each of {plan.state_groups} state group(s)")
    for choice in plan.choices:
        if choice.knob != "kv_cache_dtype":
            tag = "pinned" if choice.pinned else "chosen"
            lines.append(f"  {choice.knob:<21} {yaml_scalar(choice.value):>12}  ({tag})")
    lines.append(f"  verdict               {plan.verdict}")
    for reason in plan.reasons:
        lines.append(f"    reason: {reason}")
    for i, fix in enumerate(plan.fixes, 1):
        lines.append(f"    fix {i}: {fix.label()}")
    for warning in plan.warnings:
        lines.append(f"    warning: {warning}")
    return "\n".join(lines)


def _budgeted(plan) -> bool:
    from vllm_compile.plan.releases import rules_for

    return rules_for(plan.vllm_version).cuda_graphs_in_budget


def explain_text(name: str, plan, gpu_name: str, width: int = 50) -> str:
    led = plan.per_gpu
    out = [ledger_text(name, plan, gpu_name), "", f"  per-GPU memory (each # = {led.total_bytes / width / GIB:.2f} GiB):"]
    marks = {"weights_bytes": "W", "activation_bytes": "A", "non_torch_bytes": "N", "cuda_graph_bytes": "G",
             "kv_cache_bytes": "K"}
    bar = ""
    for _, attr in ROWS:
        value = max(0, getattr(led, attr))
        bar += marks[attr] * round(value / led.total_bytes * width)
    bar = bar[:width]
    requested_at = round(led.requested_bytes / led.total_bytes * width)
    out.append("  [" + bar.ljust(width, ".") + "]")
    out.append("   " + " " * max(0, requested_at - 1) + "^ requested (gpu_memory_utilization)")
    cache = "state cache" if plan.state_bytes_per_sequence else "KV cache"
    out.append(f"   W weights  A activation  N non-torch  G CUDA graphs  K {cache}  . outside vLLM's budget")
    if len(plan.ranks) > 1:
        out.append("")
        out.append("  per pipeline stage:  stage  weights      KV cache")
        for r in plan.ranks:
            out.append(f"                       {r.stage:>5}  {_gib(r.weights_bytes)} {_amount(r.kv_cache_bytes)}")
    out.append("")
    out.append("  knobs:")
    for choice in plan.choices:
        tag = "pinned" if choice.pinned else "chosen"
        out.append(f"    {choice.knob:<24} {str(choice.value):<10} {tag}: {choice.reason}")
    return "\n".join(out)


def explain_json(plan, gpu_name: str) -> dict:
    """`explain --format json`: the plan's own JSON (as `plan --format json`) plus what the text
    explanation adds: the GPU, each ledger row as a share of the GPU's memory (the bar chart),
    whether CUDA graphs count inside vLLM's budget, and the ledger of every pipeline stage."""
    led = plan.per_gpu
    total = led.total_bytes or 1
    out = plan.as_json()
    out["gpu"] = gpu_name
    out["gpus"] = plan.gpus
    out["cuda_graphs_in_budget"] = _budgeted(plan)
    out["memory_shares"] = {attr.removesuffix("_bytes"): round(max(0, getattr(led, attr)) / total, 4)
                            for _, attr in ROWS}
    out["requested_share"] = round(led.requested_bytes / total, 4)
    out["stages"] = [{"stage": r.stage, **r.as_json()} for r in plan.ranks] if len(plan.ranks) > 1 else []
    return out
