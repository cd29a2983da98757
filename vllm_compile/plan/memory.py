"""One layout (TP, PP, knobs) through vLLM's start-up accounting: ledger, capacity, verdict.

    requested    = ceil(total x utilization)                       (or --kv-cache-memory-bytes)
    available_kv = requested - weights - activation - non_torch [- cuda_graphs from 0.21]
    blocks       = available_kv // (page x layers per pool)        (minimum over all ranks)
"""
from __future__ import annotations

import dataclasses
import math
from vllm_compile.fastclass import dataclass

from vllm_compile.ir.facts import GpuFacts, ModelFacts, SpeculativeFacts
from vllm_compile.ir.plan import Ledger
from vllm_compile.plan import kv, overheads, rules_data, speculative, weights
from vllm_compile.plan.releases import ReleaseRules

GIB = 1 << 30


@dataclass(frozen=True, slots=True)
class Layout:
    tp: int
    pp: int
    utilization: float
    max_model_len: int
    kv_cache_dtype: str
    max_num_seqs: int
    max_num_batched_tokens: int
    block_size: int
    enforce_eager: bool
    expert_parallel: bool
    dtype_bytes: int
    hybrid: bool
    kv_cache_memory_bytes: int | None = None
    other_tenants_bytes: int = 0
    cpu_offload_bytes: int = 0
    max_loras: int = 0             # 0: LoRA off
    max_lora_rank: int = 16
    dp: int = 1
    speculative: SpeculativeFacts | None = None
    mm_items_per_prompt: int = 1   # the profiled modality's --limit-mm-per-prompt (0: its profiling skipped)
    mm_max_pixels: int | None = None
    mm_max_tiles: int | None = None
    mm_videos_per_prompt: int = 0  # --limit-mm-per-prompt video for a tower that takes videos (0: none)
    state_dtypes: tuple[str, str] = ("auto", "auto")   # --mamba-cache-dtype, --mamba-ssm-cache-dtype


@dataclass(frozen=True, slots=True)
class Evaluation:
    layout: Layout
    ledger: Ledger                 # the rank that limits the KV cache
    ranks: tuple[Ledger, ...]
    capacity: kv.Capacity
    verdict: str
    reasons: tuple[str, ...]
    largest_fitting_len: int = 0
    headroom_needed: int = 0
    # The spec key a failing verdict is about when it is not the verdict's usual one
    # (plan.VERDICT_KEYS), e.g. engine.max_num_seqs for too few Mamba state blocks.
    failure_key: str | None = None
    # Hybrids: the state page (padded to the attention page), the recurrent layer groups of the
    # limiting rank, and the state blocks each running sequence holds per group (0: mode 'all').
    state_page_bytes: int = 0
    state_groups: int = 0
    state_blocks: int = 0
    # Attention-free models (pure Mamba): the state one running sequence holds on the limiting
    # rank over all its layers; 0 for models with attention.
    state_bytes_per_sequence: int = 0


def kv_dtype_bytes(kv_cache_dtype: str, dtype_bytes: int) -> int:
    if kv_cache_dtype == "auto":
        return dtype_bytes
    return kv.KV_DTYPE_BYTES.get(kv_cache_dtype, dtype_bytes)


def evaluate(facts: ModelFacts, gpu: GpuFacts, total_bytes: int, rules: ReleaseRules, layout: Layout) -> Evaluation:
    tp, pp = layout.tp, layout.pp
    requested = math.ceil(total_bytes * layout.utilization)
    kv_bytes = kv_dtype_bytes(layout.kv_cache_dtype, layout.dtype_bytes)
    sampler_rows = layout.max_num_seqs if rules.engine == "v0" else min(layout.max_num_seqs, layout.max_num_batched_tokens)
    replicas = layout.dp if layout.expert_parallel else 1
    kernels = weights.load_kernels(rules.version, gpu)
    # A double-quantized bnb absmax stays nested until vLLM dequantizes it at load (>= 0.9.2).
    nested_absmax = not kernels.bnb_absmax_fp32 and any(any(layer.absmax_growth) for layer in facts.layers)
    activation = overheads.activation_bytes(facts, rules.era, tp, layout.max_num_batched_tokens, sampler_rows,
                                            layout.dtype_bytes, replicas,
                                            overheads.bnb_dequant_bytes(facts, tp, nested_absmax))
    activation += speculative.verify_bytes(layout.speculative, sampler_rows, facts.vocab_size)
    non_torch = overheads.non_torch_bytes(tp, pp, replicas, gpu, rules.nccl_eager_buffers)
    nccl_in_graphs = overheads.nccl_in_graphs(gpu, tp, rules.cuda_graphs_in_budget)
    alignment = rules_data.data()["defaults"]["hybrid_block_alignment"]
    packed_mla = (facts.mla is not None and facts.mla.sparse
                  and kv.sparse_mla_format(layout.kv_cache_dtype, rules.sparse_mla_auto_fp8) == "fp8_ds_mla")

    attention_free = kv.attention_free(list(facts.layers))
    if attention_free:
        # vLLM's V1 runner sets the Mamba block size of an attention-free model to max_model_len:
        # one block holds a sequence's whole state, so "GPU KV cache size" is state slots x
        # max_model_len and the maximum concurrency is the number of state slots. (V0 keeps
        # max_num_seqs state slots outside any KV cache, which is not modelled and is warned
        # about; the same one-block-per-sequence reading keeps its plan from a KV verdict that
        # does not apply to a model without attention.)
        block = layout.max_model_len
    else:
        block = kv.hybrid_block_size(list(facts.layers), tp, kv_bytes, layout.dtype_bytes, layout.block_size,
                                     alignment, layout.state_dtypes,
                                     rules_data.data()["defaults"]["hybrid_block_alignment_mla"])
    if block != layout.block_size:
        layout = dataclasses.replace(layout, block_size=block)
    ranks, stage_specs, capacities = [], [], []
    for stage, layer_range in enumerate(weights.stage_layers(facts.num_layers, pp)):
        layers = [facts.layers[i] for i in layer_range]
        drafter = speculative.drafter_layers(layout.speculative, facts) if stage == pp - 1 else ()
        w = weights.rank_weight_bytes(facts, tp, pp, stage, layout.expert_parallel, kernels, layout.cpu_offload_bytes,
                                      layout.dp)
        if stage == pp - 1:   # the drafter runs beside the last stage
            w += speculative.drafter_weight_bytes(layout.speculative, facts, tp, layout.dtype_bytes)
        w += weights.sparse_indexer_buffer_bytes(facts, layout.max_num_batched_tokens)
        if layout.max_loras:
            w += weights.lora_slot_bytes(facts, tp, pp, layout.max_loras, layout.max_lora_rank, layout.dtype_bytes)
        stage_activation, encoder_weights, encoder_activation, encoder_modality = activation, 0, 0, ""
        if stage == 0:
            encoder_weights = weights.encoder_rank_bytes(facts, tp)
            profile = overheads.encoder_profile(facts, rules, tp, layout.max_num_batched_tokens, layout.max_num_seqs,
                                                layout.mm_items_per_prompt, layout.mm_max_pixels, layout.dtype_bytes,
                                                videos_per_prompt=layout.mm_videos_per_prompt,
                                                max_model_len=layout.max_model_len, max_tiles=layout.mm_max_tiles)
            if profile is not None:
                # The tower's forward comes first; its embeddings stay cached through the text run.
                stage_activation = max(profile.forward_bytes, activation + profile.cached_bytes)
                encoder_activation = stage_activation - activation
                encoder_modality = profile.modality
        graphs = overheads.cuda_graph_bytes(len(layers), layout.max_num_seqs, layout.enforce_eager, era=rules.era,
                                            max_num_batched_tokens=layout.max_num_batched_tokens,
                                            nccl_in_graphs=nccl_in_graphs)
        budget_graphs = graphs if rules.cuda_graphs_in_budget else 0
        if layout.kv_cache_memory_bytes is not None:
            available = layout.kv_cache_memory_bytes
        else:
            # Other tenants' memory present at the snapshot is outside vLLM's accounting: it does
            # not shrink the KV cache, it fails the start-up free-memory check instead (below).
            available = requested - w - stage_activation - non_torch - budget_graphs
        specs = kv.layer_specs(layers + list(drafter), tp, kv_bytes, layout.block_size, hybrid=layout.hybrid,
                               v0_mla_alignment=rules.v0_mla_alignment, dtype_bytes=layout.dtype_bytes,
                               state_blocks=rules.mamba_state_blocks, state_dtypes=layout.state_dtypes,
                               packed_mla=packed_mla)
        cap = kv.capacity(specs, available, layout.block_size, layout.max_model_len, layout.max_num_batched_tokens,
                          engine=rules.engine, tokens_from_concurrency=rules.tokens_from_concurrency,
                          cross_tokens=cross_attention_tokens(facts, layout.mm_items_per_prompt))
        ranks.append(Ledger(total_bytes=total_bytes, requested_bytes=requested, weights_bytes=w,
                            activation_bytes=stage_activation, non_torch_bytes=non_torch, cuda_graph_bytes=graphs,
                            kv_cache_bytes=available, kv_bytes_per_token=kv.token_bytes(specs), rank=stage * tp,
                            stage=stage, encoder_weights_bytes=encoder_weights,
                            encoder_activation_bytes=encoder_activation, encoder_modality=encoder_modality))
        stage_specs.append(specs)
        capacities.append(cap)
    # All ranks run with the smallest block count, so the stage with the fewest blocks is the
    # one whose ledger and capacity are reported.
    limiting = min(range(pp), key=lambda s: (capacities[s].num_blocks, s))
    ledger, cap = ranks[limiting], capacities[limiting]

    heaviest_graphs = max(r.cuda_graph_bytes for r in ranks)
    headroom = overheads.outside_budget_bytes(heaviest_graphs, rules.cuda_graphs_in_budget)
    verdict, reasons, fitting = "ok", [], 0
    failure_key: str | None = None
    heaviest = max(r.weights_bytes for r in ranks)
    if heaviest + overheads.cuda_context_bytes() + layout.other_tenants_bytes > total_bytes:
        verdict = "weights_do_not_fit"
        left = total_bytes - overheads.cuda_context_bytes() - layout.other_tenants_bytes
        reasons.append(f"the weights need {_gib(heaviest)} GiB per GPU at tensor_parallel_size {tp}"
                       f"{f' x pipeline_parallel_size {pp}' if pp > 1 else ''}, more than the "
                       f"{_gib(max(0, left))} GiB the {gpu.name} leaves after the CUDA context"
                       f"{' and the other deployments on it' if layout.other_tenants_bytes else ''}: short by "
                       f"{_gib(heaviest - left)} GiB; loading fails with CUDA out of memory")
    elif total_bytes - layout.other_tenants_bytes < requested:
        verdict = "invalid"
        reasons.append(f"Free memory on device ({_gib(total_bytes - layout.other_tenants_bytes)}/{_gib(total_bytes)} GiB) on "
                       f"startup is less than desired GPU memory utilization ({layout.utilization:.2f}, "
                       f"{_gib(requested)} GiB): other deployments on this GPU hold {_gib(layout.other_tenants_bytes)} GiB")
    elif min(r.kv_cache_bytes for r in ranks) <= 0:
        verdict = "no_kv_memory"
        worst = min(ranks, key=lambda r: r.kv_cache_bytes)
        reasons.append(
            f"No available memory for the cache blocks: {_gib(worst.requested_bytes)} GiB requested "
            f"(utilization {layout.utilization:.2f} of {_gib(total_bytes)} GiB) minus weights {_gib(worst.weights_bytes)}, "
            f"activation {_gib(worst.activation_bytes)}, non-torch {_gib(worst.non_torch_bytes)}"
            + (f", CUDA graphs {_gib(worst.cuda_graph_bytes)}" if rules.cuda_graphs_in_budget else "")
            + (f" GiB leaves {_gib(worst.kv_cache_bytes)} GiB for the KV cache" if worst.kv_cache_bytes == 0 else
               f" GiB leaves nothing for the KV cache: short by {_gib(-worst.kv_cache_bytes)} GiB"))
    elif (rules.mamba_seqs_must_fit and any(kv.holds_state(l) for l in facts.layers)
          and cap.num_blocks < layout.max_num_seqs * rules.mamba_state_blocks):
        verdict, failure_key = "invalid", "engine.max_num_seqs"
        reasons.append(f"max_num_seqs ({layout.max_num_seqs}) exceeds available Mamba cache blocks "
                       f"({cap.num_blocks // rules.mamba_state_blocks}): every running sequence holds "
                       f"{rules.mamba_state_blocks} state block(s) of {cap_page(stage_specs[limiting]) / (1 << 20):.2f} MiB "
                       f"per layer of each recurrent layer group")
    else:
        for stage, specs in enumerate(stage_specs):
            available = ranks[stage].kv_cache_bytes
            if rules.engine == "v0":
                too_small = cap.tokens < layout.max_model_len
                fitting = cap.tokens
            else:
                needed = kv.admission_bytes(specs, layout.max_model_len, layout.block_size, layout.max_num_batched_tokens)
                too_small = needed > available
                fitting = kv.largest_fitting_len(specs, available, layout.block_size, layout.max_num_batched_tokens,
                                                 layout.max_model_len) if too_small else 0
            if too_small:
                verdict = "kv_too_small"
                if rules.engine == "v0":
                    reasons.append(f"The model's max seq len ({layout.max_model_len}) is larger than the maximum number "
                                   f"of tokens that can be stored in KV cache ({cap.tokens})")
                else:
                    reasons.append(
                        f"To serve at least one request with the model's max seq len ({layout.max_model_len}), "
                        f"{_gib(needed)} GiB KV cache is needed, which is larger than the available KV cache memory "
                        f"({_gib(available)} GiB). Based on the available memory, the estimated maximum model length "
                        f"is {fitting}")
                break
    if (verdict == "ok" and layout.kv_cache_memory_bytes is None
            and total_bytes - requested < headroom + layout.other_tenants_bytes):
        # vLLM sizes the KV cache to fill `requested`; what it allocates afterwards outside that
        # budget (CUDA graphs before 0.21, on top of the CUDA context) must fit in the rest of
        # the GPU, or graph capture dies with CUDA out of memory. None of the five verdicts names
        # this failure; like the free-memory check it is util x total colliding with memory
        # outside vLLM's budget, so it is reported as "invalid".
        verdict = "invalid"
        graphs_note = ("" if rules.cuda_graphs_in_budget else
                       f" + {_gib(heaviest_graphs)} GiB of CUDA graphs captured after the KV cache is allocated")
        reasons.append(
            f"CUDA out of memory at start-up (during CUDA graph capture): utilization {layout.utilization:.2f} leaves "
            f"{_gib(total_bytes - requested)} GiB outside vLLM's budget on the {gpu.name}, but it needs "
            f"{_gib(overheads.cuda_context_bytes())} GiB of CUDA context{graphs_note}"
            + (f" + {_gib(layout.other_tenants_bytes)} GiB held by other deployments" if layout.other_tenants_bytes else ""))
    state_page = max((s.page_bytes for s in stage_specs[limiting] if s.kind == "mamba"), default=0)
    state_groups = kv.state_groups(stage_specs[limiting]) if state_page else 0
    per_sequence = (kv.admission_bytes(stage_specs[limiting], layout.max_model_len, layout.block_size,
                                       layout.max_num_batched_tokens) if attention_free else 0)
    return Evaluation(layout, ledger, tuple(ranks), cap, verdict, tuple(reasons), fitting, headroom, failure_key,
                      state_page, state_groups, rules.mamba_state_blocks if state_page else 0, per_sequence)


def cap_page(specs: list[kv.LayerSpec]) -> int:
    return max((s.page_bytes for s in specs), default=0)


def _gib(n: int) -> str:
    return f"{n / GIB:.2f}"


def cross_attention_tokens(facts: ModelFacts, items_per_prompt: int) -> int:
    """Encoder tokens a request's cross-attention layers cache (Llama-3.2-Vision on V0: a cross
    block table per sequence, beside its decoder blocks): the per-prompt image limit x the tokens
    of an image at the maximum size; none for a model without cross-attention or with images off."""
    enc = facts.encoder
    if enc is None or not enc.cross_attention or items_per_prompt <= 0:
        return 0
    return items_per_prompt * enc.tokens_per_item
