"""What differs between vLLM releases for start-up memory: one table, keyed by release ranges.

The rows and the defaults are data (vllm_compile/data/planner-rules.json); this module types them.
Sources: the reference's §1.2-1.3 (accounting), §1.9 (V0), §4.3-4.4 (defaults and their history).
Boundaries marked approximate there are approximate here too.
"""
from __future__ import annotations

import dataclasses
from vllm_compile.fastclass import dataclass
from typing import Any, Literal

from vllm_compile.plan import rules_data
from vllm_compile.versions import at_least, release_key

GIB = 1 << 30


@dataclass(frozen=True, slots=True)
class ReleaseRules:
    version: str
    engine: Literal["v0", "v1"]
    # Activation/overhead calibration era: v0 (V0 engine), v1a (0.8-0.10), v1b (0.11-0.20), v1c (0.21+).
    era: Literal["v0", "v1a", "v1b", "v1c"]
    default_utilization: float
    cuda_graphs_in_budget: bool       # CUDA-graph estimate subtracted before sizing KV (0.21+)
    hybrid_kv_manager: bool           # sliding/chunked layers hold only their window (V1 0.10+)
    tokens_from_concurrency: bool     # "GPU KV cache size" = concurrency x max_model_len (newest)
    bf16_auto_fallback: bool          # dtype auto picks float16 on GPUs without bf16 instead of failing
    v0_mla_alignment: bool            # V0 pads each MLA cache entry to a multiple of 256 bytes
    large_gpu_rule: Literal["none", "h100-h200", "70gib-not-a100"]
    mamba_state_blocks: int = 1       # state blocks a running sequence holds per Mamba group (align mode: 2)
    mamba_seqs_must_fit: bool = False  # max_num_seqs above the Mamba blocks fails (else graph sizes are capped)
    sparse_mla_auto_fp8: bool = True   # sparse MLA (DeepSeek-V3.2) stores kv_cache_dtype auto as fp8_ds_mla (0.11.0)
    nccl_eager_buffers: bool = False   # the bundled NCCL (<= 2.21, before 0.9.0) sets up every channel's buffers at init
    video_frames_from_context: bool = False   # a Qwen tower's dummy video fills max_model_len (0.10.2+, PR #24312)
    vision_qk_fp32_rotary: bool = False       # Qwen vision attention rotates q and k as one float32 pair (0.11.x)
    vision_qk_concat_rotary: bool = False     # ... and qwen2_5_vl.py builds that pair by torch.cat (0.11.0)
    # The seq_len V1's profile run builds its dummy multimodal item at, which sizes a Qwen video:
    # "" (V0: images only), batched_tokens (0.8-0.9, 0.10.1-0.10.2), item (0.10.0: the item's
    # logged maximum), model_len (0.11+).
    video_dummy_len: Literal["", "batched_tokens", "item", "model_len"] = ""
    video_max_frames: int = 16                # qwen2_vl.py _MAX_FRAMES_PER_VIDEO (14 from 0.11.0)
    mm_items_floor: bool = False              # items = max(1, budget // item tokens) (0.10.0+), else cdiv
    qwen3_video_rule: Literal["", "context", "two_frames"] = ""  # Qwen3-VL's dummy video (overheads.qwen3_video_item)
    qwen3_video_token_factor: float = 1.0     # the budget counts 12.5 tokens per Qwen3-VL video embedding (0.11-0.12)
    mm_cache_pads_to_budget: bool = False     # profile_run pads each cached output to the encoder budget (0.11.0)
    video_room_by_limits: bool = False        # a Qwen video's frames leave room for the per-prompt limits' items (0.8.0-0.8.2)
    mllama_projector_parallel: bool = True    # mllama's projector split over TP (0.6.4+; before: an nn.Linear on every rank)


def rules_for(version: str) -> ReleaseRules:
    """The V0 baseline plus every change at or below `version` (planner-rules.json `releases`)."""
    key = release_key(version)
    table = rules_data.data()["releases"]
    rules: dict[str, Any] = dict(table["baseline"])
    for change in table["changes"]:
        if key >= release_key(change["from"]):
            rules.update(change["set"])
    return ReleaseRules(version=version, **rules)


@dataclass(frozen=True, slots=True)
class BatchDefaults:
    max_num_batched_tokens: int
    max_num_seqs: int
    chunked_prefill: bool
    reason: str


def batch_defaults(rules: ReleaseRules, gpu_name: str, memory_bytes: int, max_model_len: int,
                   is_mla: bool = False) -> BatchDefaults:
    """The `max_num_batched_tokens` / `max_num_seqs` vLLM resolves when the flags are not given."""
    d = rules_data.data()["defaults"]
    if rules.engine == "v0":
        # V0: chunked prefill only for long-context models (and not for MLA, which lacked it);
        # without it one prefill must fit in a batch, so the batch spans the whole context.
        chunked = max_model_len > d["v0_chunked_prefill_above_len"] and not is_mla
        if chunked:
            per_era = d["v0_chunked_batched_tokens"]
            tokens = per_era["from_0.6.0"] if at_least(rules.version, "0.6.0") else per_era["before_0.6.0"]
            return BatchDefaults(tokens, d["v0_max_num_seqs"], True, "V0 enables chunked prefill above 32K context")
        return BatchDefaults(max(max_model_len, d["v0_min_batched_tokens"]), d["v0_max_num_seqs"], False,
                             "V0 without chunked prefill batches a whole max_model_len prefill")
    name = gpu_name.lower().replace(" ", "")
    large = False
    if rules.large_gpu_rule == "h100-h200":
        large = "h100" in name or "h200" in name
    elif rules.large_gpu_rule == "70gib-not-a100":
        large = memory_bytes >= d["large_gpu"]["min_memory_gib"] * GIB and "a100" not in name
    if large:
        big = d["large_gpu"]
        return BatchDefaults(big["max_num_batched_tokens"], big["max_num_seqs"], True,
                             "vLLM's default for GPUs of 70 GiB or more (not A100)")
    small = d["small_gpu"]
    return BatchDefaults(small["max_num_batched_tokens"], small["max_num_seqs"], True,
                         "vLLM's default for GPUs under 70 GiB (and A100)")


def default_block_size(rules: ReleaseRules, compute_capability: tuple[int, int], is_mla: bool,
                       sparse: bool = False) -> tuple[int, str]:
    if sparse and rules.engine == "v1":
        # FLASHMLA_SPARSE (v1/attention/backends/mla/flashmla_sparse.py) lists one kernel block
        # size, 64, on Hopper and Blackwell alike.
        return 64, "the FlashMLA-sparse backend forces 64-token blocks"
    if is_mla and rules.engine == "v1":
        if compute_capability >= (10, 0):
            return 128, "the CUTLASS MLA backend forces 128-token blocks on Blackwell"
        if compute_capability >= (9, 0):
            return 64, "the FlashMLA backend forces 64-token blocks on Hopper"
    return rules_data.data()["defaults"]["block_size"], "vLLM's default block size on CUDA"


# The ranks `--max-lora-rank` accepts. Up to 0.10 vLLM's LoRAConfig.__post_init__ checked the
# rank against `possible_max_ranks = (8, 16, 32, 64, 128, 256, 320, 512)`; vllm/config/lora.py
# then typed it `MaxLoRARanks = Literal[1, 8, 16, 32, 64, 128, 256, 320, 512]`, which the CLI
# turns into argparse choices: the bundled flag manifests carry them from 0.11.1 on (a test holds
# this table to them), and none before.
_LORA_RANKS = (
    ("0.0.0", (8, 16, 32, 64, 128, 256, 320, 512)),
    ("0.11.1", (1, 8, 16, 32, 64, 128, 256, 320, 512)),
)


def lora_ranks(version: str) -> tuple[int, ...]:
    """The `--max-lora-rank` values vLLM `version` accepts."""
    key = release_key(version)
    return [ranks for first, ranks in _LORA_RANKS if key >= release_key(first)][-1]


def lora_rank_for(version: str, rank: int) -> int | None:
    """The smallest accepted `--max-lora-rank` that holds an adapter of `rank`; None above the largest."""
    return next((r for r in lora_ranks(version) if r >= rank), None)


@dataclass(frozen=True, slots=True)
class ArchitectureSupport:
    """An architecture that not every bundled release serves (planner-rules.json `architectures`)."""

    first: str              # the first release that loads the architecture
    why: str                # where that comes from
    v1_from: str | None = None  # Mamba hybrids: the first release that runs it on V1 with the unified hybrid page
    state_blocks: int | None = None  # state blocks per sequence and group under the default cache mode
    prefix_cache_mode: str = "align"  # the Mamba cache mode vLLM picks when prefix caching is asked for
    v0_only: bool = False        # runs on the V0 engine in every release that serves it (mllama)
    removed_in: str | None = None  # the first release that no longer serves it
    last: str | None = None      # the newest bundled release that still serves it
    removed_why: str = ""


def architecture_support(architecture: str) -> ArchitectureSupport | None:
    """The architecture's row, or None when every bundled release serves it."""
    row = rules_data.data().get("architectures", {}).get(architecture)
    if not isinstance(row, dict):
        return None
    return ArchitectureSupport(row["since"], row["why"], row.get("v1_from"), row.get("state_blocks"),
                               row.get("prefix_cache_mode", "align"), row.get("engine") == "v0",
                               row.get("removed_in"), row.get("last"), row.get("removed_why", ""))


def mamba_cache_mode(version: str, architecture: str, prefix_caching: bool | None, mode: str | None) -> str | None:
    """The Mamba cache mode vLLM runs a hybrid with: `--mamba-cache-mode` when given, else 'all'
    or 'align' when `--enable-prefix-caching` asks for prefix caching, 'none' when it is turned
    off; None: the release's default for the architecture. Before the modes existed vLLM turned
    prefix caching off for hybrids."""
    modes = rules_data.data()["defaults"]["mamba_cache_modes"]
    if not at_least(version, modes["from"]):
        return "none" if (prefix_caching is not None or mode is not None) else None
    if mode is not None and mode != "none":
        return mode
    if prefix_caching is False or mode == "none":
        return "none"
    if prefix_caching:
        support = architecture_support(architecture)
        preferred = support.prefix_cache_mode if support else "align"
        return "all" if preferred == "all" and release_key(version) <= release_key(modes["all_until"]) else "align"
    return None


def rules_for_model(version: str, architecture: str, prefix_caching: bool | None = None,
                    cache_mode: str | None = None) -> ReleaseRules:
    """The release's rules, with what the architecture's row and the prefix-caching flags change:
    the Mamba hybrids keep prefix caching off by default (one state block per sequence and
    group); `--enable-prefix-caching` / `--mamba-cache-mode` pick 'align' (two) or 'all' (one per
    block of the request, 0 here)."""
    rules = rules_for(version)
    support = architecture_support(architecture)
    served = support is not None and not (support.removed_in and at_least(version, support.removed_in))
    if support is not None and served and support.v0_only and rules.engine == "v1":
        # vLLM falls back to V0 for it: V0's block accounting and overhead era, none of the
        # V1-only rules.
        rules = dataclasses.replace(rules, engine="v0", era="v0", hybrid_kv_manager=False,
                                    tokens_from_concurrency=False, cuda_graphs_in_budget=False)
    if support is not None and support.state_blocks is not None:
        rules = dataclasses.replace(rules, mamba_state_blocks=support.state_blocks)
    mode = mamba_cache_mode(version, architecture, prefix_caching, cache_mode)
    if mode is not None:
        blocks = rules_data.data()["defaults"]["mamba_cache_modes"]["blocks"][mode]
        rules = dataclasses.replace(rules, mamba_state_blocks=blocks)
    return rules


@dataclass(frozen=True, slots=True)
class EngineChoice:
    """The engine a deployment runs on, when the release's default does not hold for it."""

    rules: ReleaseRules
    note: str | None = None     # why the plan follows V0 (a warning), or
    refusal: str | None = None  # why vLLM stops at start-up


def engine_choice(rules: ReleaseRules, speculative_method: str | None, use_v1: bool | None) -> EngineChoice:
    """The engine of a V1-default release that still has V0, and whether V1 takes the speculative
    method (planner-rules.json defaults.engine_choice): VLLM_USE_V1=0 asks for V0; speculative
    decoding follows the release's V1 oracle row: a method it keeps on V1 stays there, one it opts
    in runs on V0 unless VLLM_USE_V1=1, any other runs on V0 (VLLM_USE_V1=1: an error), and from
    0.10.0 a method in the row's `v1_stops` stops vLLM on V1. `use_v1`: VLLM_USE_V1 as set (None:
    not set); `speculative_method`: vLLM's method name, None without speculative decoding."""
    table = rules_data.data()["defaults"]["engine_choice"]
    key = release_key(rules.version)
    has_v0 = rules.engine == "v1" and key <= release_key(table["v0_until"])
    v0 = dataclasses.replace(rules, engine="v0", era="v0")
    if has_v0 and use_v1 is False:
        return EngineChoice(v0, f"VLLM_USE_V1=0: vLLM {rules.version} runs on the V0 engine")
    rows = [row for row in table["speculative"] if release_key(row["from"]) <= key]
    if rules.engine != "v1" or speculative_method is None or not rows:
        return EngineChoice(rules)
    row = rows[-1]
    if row["v1"] == "*":
        if speculative_method not in row.get("v1_stops", ()):
            return EngineChoice(rules)
        later = [r["from"] for r in table["speculative"]
                 if release_key(r["from"]) > key and speculative_method not in r.get("v1_stops", ())]
        newer = f"vLLM {later[0]} or newer" if later else "another method"
        return EngineChoice(rules, refusal=(
            f"speculative decoding method {speculative_method!r} is not supported by vLLM {rules.version}'s V1 "
            f"engine: it stops at start-up ('Unknown speculative decoding method'); use {newer}"
            + (", or set VLLM_USE_V1=0 to run it on the V0 engine" if has_v0 else "")))
    if speculative_method in row["v1"]:
        return EngineChoice(rules)
    opt_in = speculative_method in row["opt_in"]
    if use_v1 and opt_in:
        return EngineChoice(rules)
    if use_v1:
        runs = ", ".join(row["opt_in"] + row["v1"])
        return EngineChoice(rules, refusal=(
            f"VLLM_USE_V1=1 is not supported with speculative decoding method {speculative_method!r} on vLLM "
            f"{rules.version}: its V1 engine runs only {runs} (unset VLLM_USE_V1 to run on V0)"))
    return EngineChoice(v0, f"vLLM {rules.version} runs speculative decoding ({speculative_method}) on the V0 engine"
                            + (" unless VLLM_USE_V1=1 is set" if opt_in else "") + "; the plan follows V0")
