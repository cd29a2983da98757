"""Speculative decoding: which methods vLLM has, and what each adds on a GPU.

Facts from vLLM's SpeculativeConfig and proposers (vllm/config/speculative.py,
vllm/v1/spec_decode/eagle.py): n-gram and suffix proposers run on the host (no weights, no KV);
MTP loads the checkpoint's own next-token-prediction layers (DeepSeek
`num_nextn_predict_layers`, Qwen3-Next/3.5 `mtp_num_hidden_layers`; the model-specific names
deepseek_mtp, qwen3_next_mtp, ... all mean mtp); EAGLE / EAGLE-3 heads are one or a few decoder
layers fed by the target's hidden states through `fc` (2 or 3 x hidden -> hidden) and share the
target's embeddings (EAGLE also its lm_head; EAGLE-3 has its own over `draft_vocab_size`); a
draft model is a whole second model. Drafter layers get KV-cache pages of their own, and every
step verifies num_speculative_tokens + 1 tokens per sequence.
"""
from __future__ import annotations

from vllm_compile.ir.facts import LayerFacts, ModelFacts, SpeculativeFacts

NO_WEIGHTS = ("ngram", "suffix")
MODELLED = ("eagle", "eagle3", "mtp", "draft_model", *NO_WEIGHTS)
MTP_ALIASES = ("deepseek_mtp", "qwen3_next_mtp", "qwen3_5_mtp", "glm4_moe_mtp", "mimo_mtp", "ernie_mtp",
               "longcat_flash_mtp", "pangu_ultra_moe_mtp", "step3p5_mtp")
# Methods vLLM has that vllm-compile does not model (their drafters differ in shape).
NOT_MODELLED = ("medusa", "mlp_speculator", "dflash", "ngram_gpu")


def normalise(method: str) -> str:
    return "mtp" if method in MTP_ALIASES else method


def refusal(spec: SpeculativeFacts, facts: ModelFacts) -> str | None:
    given = spec.given_method or spec.method
    if spec.method in NOT_MODELLED:
        return (f"speculative decoding method {given!r} is not modelled by vllm-compile (modelled: "
                f"{', '.join(MODELLED)}, and the MTP aliases)")
    if spec.method not in MODELLED:
        return (f"unknown speculative decoding method {given!r}: vLLM's are {', '.join(MODELLED + NOT_MODELLED)} "
                f"and the model-specific MTP names ({', '.join(MTP_ALIASES[:3])}, ...)")
    if spec.num_speculative_tokens < 1:
        return "num_speculative_tokens must be at least 1 for speculative decoding"
    if spec.method == "mtp" and not facts.mtp_layers:
        return (f"speculative method {given!r} needs the checkpoint's MTP layers, but {facts.model_id}'s config has "
                f"no num_nextn_predict_layers / mtp_num_hidden_layers")
    return None


def drafter_layers(spec: SpeculativeFacts | None, facts: ModelFacts) -> tuple[LayerFacts, ...]:
    """The drafter's decoder layers (their weights and their KV-cache pages)."""
    if spec is None or spec.method in NO_WEIGHTS:
        return ()
    if spec.method == "mtp":
        return facts.mtp_layers
    return spec.draft.layers if spec.draft is not None else ()


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def drafter_weight_bytes(spec: SpeculativeFacts | None, facts: ModelFacts, tp: int, dtype_bytes: int) -> int:
    """The drafter's weights on one rank (it runs beside the target, split over the same TP)."""
    if spec is None or spec.method in NO_WEIGHTS:
        return 0
    from vllm_compile.plan import weights

    if spec.method == "draft_model" and spec.draft is not None:
        return weights.rank_weight_bytes(spec.draft, tp, 1, 0)
    total = 0
    for layer in drafter_layers(spec, facts):
        total += _cdiv(layer.sharded_bytes, tp) + layer.replicated_bytes + _cdiv(layer.expert_bytes, tp)
    if spec.method in ("eagle", "eagle3") and spec.draft is not None:
        draft = spec.draft
        inputs = 3 if spec.method == "eagle3" else 2
        total += _cdiv(inputs * draft.hidden_size * draft.hidden_size * dtype_bytes, tp)   # fc
        if spec.method == "eagle3":
            rows = draft.draft_vocab_size or draft.vocab_size
            total += _cdiv(rows, tp) * draft.hidden_size * dtype_bytes                      # its own lm_head
    return total


def verify_bytes(spec: SpeculativeFacts | None, rows: int, vocab: int) -> int:
    """What verifying drafts adds to the sampler's peak: the target's fp32 logits and
    probabilities for the num_speculative_tokens drafted positions of every sampled row (the
    bonus token is sampled as without speculation). A structural estimate: no calibration
    start-up with speculative decoding pins it yet."""
    if spec is None:
        return 0
    return rows * spec.num_speculative_tokens * vocab * 4 * 2
