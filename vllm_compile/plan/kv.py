"""KV-cache pages, per-token bytes, block capacity and the admission check, per rank.

Follows vLLM's KV-cache specs (reference §2): full attention pages hold K and V for the rank's
KV heads (replicated when TP exceeds the KV heads), MLA pages one latent that TP does not split,
sliding-window and chunked-local layers hold only their window under the hybrid manager, and
layers without KV hold nothing.
"""
from __future__ import annotations

from vllm_compile.fastclass import dataclass

from vllm_compile.ir.facts import LayerFacts

KV_DTYPE_BYTES = {
    "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1, "fp8_inc": 1,
    "bfloat16": 2, "float16": 2, "half": 2, "float": 4, "float32": 4,
}
FP8_KV = {"fp8", "fp8_e4m3", "fp8_e5m2", "fp8_inc"}

# Sparse MLA (DeepSeek-V3.2, FLASHMLA_SPARSE backend). vLLM's config hook for
# DeepseekV32ForCausalLM (vllm/model_executor/models/config.py) turns every fp8 spelling into the
# packed `fp8_ds_mla` cache ("Using custom fp8 kv-cache format for DeepSeekV3.2") and `bfloat16`
# into the model's 16-bit latent. In 0.11.0 it did so for `auto` too (PR #25988); PR #27121
# ("Disable fp8 kv-cache by default for DeepSeek V3.2", Oct 2025) left `auto` at the 16-bit
# latent from 0.11.1 on (release rule `sparse_mla_auto_fp8`), though the --kv-cache-dtype help
# still says V3.2 defaults to fp8. The packed entry is 656 bytes per token and layer
# (flashmla_sparse.py get_kv_cache_shape: (blocks, block_size, 656)): 512 fp8 NoPE values, 4 fp32
# scales (one per 128), 64 bf16 RoPE values.
FP8_DS_MLA_TOKEN_BYTES = 656


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True, slots=True)
class LayerSpec:
    kind: str            # "full" | "sliding" | "chunked" | "mla" | "mamba"
    window: int          # 0 for full/mla/mamba
    page_bytes: int      # one block of block_size tokens (mamba: the state, padded to the attention page)
    token_bytes: int     # bytes per token (full-context equivalent; 0 for mamba)
    state_blocks: int = 0  # mamba: blocks one running sequence holds, whatever its length (0: one per block, mode 'all')

    def max_usage_bytes(self, max_model_len: int, block_size: int, batched_tokens: int) -> int:
        """Bytes one request of `max_model_len` tokens needs in this layer."""
        return self.blocks_per_request(max_model_len, block_size, batched_tokens) * self.page_bytes

    def blocks_per_request(self, max_model_len: int, block_size: int, batched_tokens: int) -> int:
        if self.kind == "mamba":
            return self.state_blocks or _cdiv(max_model_len, block_size)
        if self.kind == "sliding":
            return _cdiv(min(self.window - 1 + batched_tokens, max_model_len), block_size) + 1
        if self.kind == "chunked":
            return _cdiv(min(self.window + batched_tokens, max_model_len), block_size)
        return _cdiv(max_model_len, block_size)


def sparse_mla_format(kv_cache_dtype: str, auto_fp8: bool = False) -> str:
    """The cache format vLLM stores a sparse-MLA latent in for `--kv-cache-dtype` (`auto_fp8`:
    the release packs `auto` too)."""
    if kv_cache_dtype.startswith("fp8") or (auto_fp8 and kv_cache_dtype == "auto"):
        return "fp8_ds_mla"
    return kv_cache_dtype


def extra_groups(groups: int, tp: int) -> int:
    """Mamba2 B/C groups vLLM adds so that each rank holds the groups of its heads
    (MambaStateShapeCalculator.extra_groups_for_head_shards): none when TP divides them."""
    return 0 if not groups or groups % tp == 0 else tp - groups


def state_page_bytes(layer: LayerFacts, tp: int, dtype_bytes: int,
                     state_dtypes: tuple[str, str] = ("auto", "auto")) -> int:
    """One sequence's state of a recurrent layer on one rank (MambaStateDtypeCalculator): the conv
    state in `--mamba-cache-dtype` (auto: the model dtype); the SSM / recurrent state in
    `--mamba-ssm-cache-dtype`, which under auto is fp32 where the model's config asks and the conv
    state's dtype otherwise. A Mamba2 conv state is split after its groups are replicated up to
    the TP size."""
    conv_dtype, ssm_dtype = state_dtypes
    conv_bytes = dtype_bytes if conv_dtype == "auto" else KV_DTYPE_BYTES.get(conv_dtype, dtype_bytes)
    if ssm_dtype != "auto":
        ssm_bytes = KV_DTYPE_BYTES.get(ssm_dtype, conv_bytes)
    else:
        ssm_bytes = 4 if layer.ssm_state_fp32 else conv_bytes
    conv = layer.conv_state + extra_groups(layer.ssm_groups, tp) * layer.conv_group_state
    return _cdiv(conv, tp) * conv_bytes + _cdiv(layer.ssm_state, tp) * ssm_bytes


def holds_state(layer: LayerFacts) -> bool:
    """The layer keeps a recurrent state per sequence (a Mamba / gated delta-net mixer, alone or
    beside attention as in Falcon-H1)."""
    return bool(layer.mixer or layer.attention == "mamba")


def holds_kv(layer: LayerFacts) -> bool:
    return layer.attention not in ("none", "mamba", "mla") and layer.kv_heads > 0


def attention_free(layers: list[LayerFacts]) -> bool:
    """No layer attends (pure Mamba / Mamba2 / FalconMamba): every layer keeps a state, none a KV
    cache. vLLM then makes one Mamba block span the whole context (block size = max_model_len,
    "so that mamba model will always have only one block" per sequence and layer)."""
    return bool(layers) and all(holds_state(layer) and not holds_kv(layer) and layer.attention != "mla"
                                for layer in layers)


def attention_token_bytes(layer: LayerFacts, tp: int, kv_bytes: int) -> int:
    heads = max(1, layer.kv_heads // tp)
    return heads * (layer.head_size + layer.head_size_v) * kv_bytes


def hybrid_block_size(layers: list[LayerFacts], tp: int, kv_bytes: int, dtype_bytes: int, block_size: int,
                      alignment: int, state_dtypes: tuple[str, str] = ("auto", "auto"), mla_alignment: int = 64) -> int:
    """vLLM's unified page for attention + Mamba hybrids (HybridAttentionMambaModelConfig): the
    attention block grows to the smallest multiple of `alignment` tokens whose page holds one
    layer's state ("Setting attention block size to N tokens to ensure that attention page size
    is >= mamba page size"); a larger user block size stays."""
    states = [state_page_bytes(layer, tp, dtype_bytes, state_dtypes) for layer in layers if holds_state(layer)]
    tokens = [attention_token_bytes(layer, tp, kv_bytes) for layer in layers if holds_kv(layer)]
    mla = [layer.head_size * kv_bytes for layer in layers if layer.attention == "mla" and layer.kv_heads > 0]
    if mla:
        # MLA + state hybrids (Kimi Linear): the page is one latent per token and the MLA
        # backends' kernel block needs `mla_alignment` tokens (64; 128 under CUTLASS_MLA).
        tokens, alignment = mla, mla_alignment
    if not states or not tokens:
        return block_size
    needed = alignment * _cdiv(max(states), alignment * max(tokens))
    return max(block_size, needed)


def layer_specs(layers: list[LayerFacts], tp: int, kv_bytes: int, block_size: int, *,
                hybrid: bool, v0_mla_alignment: bool, dtype_bytes: int = 2, state_blocks: int = 1,
                state_dtypes: tuple[str, str] = ("auto", "auto"), packed_mla: bool = False) -> list[LayerSpec]:
    specs = []
    attention_page = max([attention_token_bytes(layer, tp, kv_bytes) * block_size for layer in layers
                          if holds_kv(layer)]
                         + [layer.head_size * kv_bytes * block_size for layer in layers
                            if layer.attention == "mla" and layer.kv_heads > 0], default=0)
    for layer in layers:
        if holds_state(layer):
            # The state page is padded to exactly the attention page ("Padding mamba page size by ...").
            page = max(state_page_bytes(layer, tp, dtype_bytes, state_dtypes), attention_page)
            specs.append(LayerSpec("mamba", 0, page, 0, state_blocks))
        if layer.attention == "mamba":
            continue
        if layer.attention == "none" or layer.kv_heads == 0:
            continue
        if layer.attention == "mla":
            token = FP8_DS_MLA_TOKEN_BYTES if packed_mla else layer.head_size * kv_bytes
            if v0_mla_alignment:
                token = _cdiv(token, 256) * 256
            # Sparse MLA: the layer's indexer keeps its own key cache, an MLAAttentionSpec of
            # one uint8 head of `index_key_bytes` (deepseek_v2.py DeepseekV32IndexerCache) with
            # the same block size. The manager puts both specs of a layer in one group and sizes
            # each block as the sum of their pages, so the two add up per token.
            token += layer.index_key_bytes
            specs.append(LayerSpec("mla", 0, token * block_size, token))
            continue
        token = attention_token_bytes(layer, tp, kv_bytes)
        # Without the hybrid manager, windowed layers are allocated as full attention.
        windowed = hybrid and layer.attention in ("sliding", "chunked")
        kind = layer.attention if windowed else "full"
        specs.append(LayerSpec(kind, (layer.window or 0) if windowed else 0, token * block_size, token))
    return specs


def token_bytes(specs: list[LayerSpec]) -> int:
    return sum(s.token_bytes for s in specs)


@dataclass(frozen=True, slots=True)
class Capacity:
    num_blocks: int
    blocks_per_request: int
    max_concurrency: float
    tokens: int


def _groups(specs: list[LayerSpec]) -> tuple[int, dict[tuple, int]]:
    """vLLM's hybrid grouping: every group has `group_size` layers; a type with n layers forms
    ceil(n / group_size) groups. Returns (group_size, groups per type)."""
    counts: dict[tuple, int] = {}
    for s in specs:
        key = (s.kind, s.window)
        counts[key] = counts.get(key, 0) + 1
    if len(counts) == 1:
        (key, n), = counts.items()
        return n, {key: 1}
    smallest, largest = min(counts.values()), max(counts.values())
    group_size = largest if largest < 1.5 * smallest else smallest
    return group_size, {key: _cdiv(n, group_size) for key, n in sorted(counts.items())}


def state_groups(specs: list[LayerSpec]) -> int:
    """How many of vLLM's layer groups hold recurrent state (each keeps its own state blocks)."""
    _, groups = _groups(specs)
    return sum(n for (kind, _), n in groups.items() if kind == "mamba")


def capacity(specs: list[LayerSpec], available_bytes: int, block_size: int, max_model_len: int,
             batched_tokens: int, *, engine: str, tokens_from_concurrency: bool, cross_tokens: int = 0) -> Capacity:
    """`cross_tokens`: encoder tokens each request's cross-attention layers cache (V0
    encoder-decoder models): a second block table per sequence from the same blocks, so a request
    holds its decoder blocks plus cdiv(cross_tokens, block_size); "GPU KV cache size" is unchanged."""
    if not specs or available_bytes <= 0:
        return Capacity(0, 1, 0.0, 0)
    page = max(s.page_bytes for s in specs)
    if engine == "v0":
        # V0 sizes one block across all layers and counts tokens as blocks x block size.
        blocks = available_bytes // sum(s.page_bytes for s in specs)
        per_request = _cdiv(max_model_len, block_size) + _cdiv(cross_tokens, block_size)
        concurrency = blocks * block_size / max_model_len if not cross_tokens else blocks / per_request
        return Capacity(blocks, per_request, concurrency, blocks * block_size)
    group_size, groups = _groups(specs)
    blocks = available_bytes // (page * group_size)
    by_kind = {(s.kind, s.window): s for s in specs}
    per_request = sum(n * by_kind[key].blocks_per_request(max_model_len, block_size, batched_tokens)
                      for key, n in groups.items())
    concurrency = blocks / per_request
    if tokens_from_concurrency:
        tokens = int(concurrency * max_model_len)
    else:
        tokens = blocks // sum(groups.values()) * block_size
    return Capacity(blocks, per_request, concurrency, tokens)


def admission_bytes(specs: list[LayerSpec], max_model_len: int, block_size: int, batched_tokens: int) -> int:
    """Memory one max-length request needs (vLLM's start-up admission check sums every layer)."""
    return sum(s.max_usage_bytes(max_model_len, block_size, batched_tokens) for s in specs)


def largest_fitting_len(specs: list[LayerSpec], available_bytes: int, block_size: int, batched_tokens: int,
                        upper: int) -> int:
    """Binary search, as vLLM does for its "estimated maximum model length"."""
    lo, hi = 0, upper
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if admission_bytes(specs, mid, block_size, batched_tokens) <= available_bytes:
            lo = mid
        else:
            hi = mid - 1
    return lo
