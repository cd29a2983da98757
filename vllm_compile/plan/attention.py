"""Which KV-cache dtypes vLLM's attention backends can run on a GPU.

vLLM (V1) picks the first attention backend, in priority order, that accepts the model's head
size, the KV-cache dtype and the GPU's compute capability; when none does, start-up fails with
"No valid attention backend found for cuda with ...". The rows below restate the CUDA backends'
own checks (`supported_kv_cache_dtypes`, `supports_compute_capability`, `supports_head_size`; the
table in vLLM's docs/design/attention_backends.md), reduced to what decides the KV dtype:

- FLASH_ATTN: FA2 from 8.0 has no fp8 cache; FA3 (Hopper, 9.x) has fp8, fp8_e4m3, fp8_e5m2.
- FLASHINFER: 7.5 to 12.1, head sizes 64/128/256, every 16-bit and fp8 dtype.
- TRITON_ATTN: any GPU, but its fp8 cache is Triton's `fp8e4nv`, which has no lowering before
  8.9 (vLLM PR #43914 refuses it there up front; before that it failed in compilation), and a
  bfloat16 cache needs 8.0.
- FLEX_ATTENTION: any GPU, 16-bit caches only.
- MLA models use the MLA decode backends, none of which stores fp8_e5m2 (FLASHMLA 9.x-10.x,
  CUTLASS_MLA/FLASHINFER_MLA 10.x, TRITON_MLA any: fp8 and fp8_e4m3 only).
- Sparse MLA (DeepSeek-V3.2, `index_topk` in the config) runs on FLASHMLA_SPARSE alone
  (v1/attention/backends/mla/flashmla_sparse.py): Hopper and Blackwell data-centre GPUs (9.x and
  10.x; vLLM's recipe: "Only Hopper and Blackwell data center GPUs are supported"), a bfloat16
  model, cache dtypes auto / bfloat16 / fp8_ds_mla, which the model's config hook reaches from
  every fp8 spelling (plan/kv.py `sparse_mla_format`; auto is the 16-bit latent from 0.11.1).
  `fp8_ds_mla` is that packed format and no dense backend stores it.
`fp8_inc` is Intel Gaudi's and no CUDA backend takes it. Other cache formats are not judged here. The V0 engine (releases before 0.8)
dequantized fp8 caches in its own CUDA kernels on any GPU, so this check is for V1 releases.
"""
from __future__ import annotations

from vllm_compile.fastclass import dataclass

from vllm_compile.ir.facts import GpuFacts, ModelFacts

SIXTEEN_BIT = frozenset({"auto", "float16", "half", "bfloat16"})
FP8 = frozenset({"fp8", "fp8_e4m3", "fp8_e5m2"})


@dataclass(frozen=True, slots=True)
class _Backend:
    name: str
    min_cc: tuple[int, int]
    max_cc: tuple[int, int] | None
    kv_dtypes: frozenset[str]
    head_sizes: frozenset[int] | None = None                         # None: any
    fp8_min_cc: tuple[int, int] | None = None                        # fp8 only from this capability
    fp8_max_cc: tuple[int, int] | None = None                        # ... and up to this one
    bf16_min_cc: tuple[int, int] = (0, 0)


_STANDARD = (
    _Backend("FLASH_ATTN", (8, 0), None, SIXTEEN_BIT | FP8, fp8_min_cc=(9, 0), fp8_max_cc=(9, 9)),
    _Backend("FLASHINFER", (7, 5), (12, 1), SIXTEEN_BIT | FP8, head_sizes=frozenset({64, 128, 256})),
    _Backend("TRITON_ATTN", (0, 0), None, SIXTEEN_BIT | FP8, fp8_min_cc=(8, 9), bf16_min_cc=(8, 0)),
    _Backend("FLEX_ATTENTION", (0, 0), None, SIXTEEN_BIT),
)
_MLA = (
    _Backend("FLASHMLA", (9, 0), (10, 9), SIXTEEN_BIT | {"fp8", "fp8_e4m3"}),
    _Backend("CUTLASS_MLA", (10, 0), (10, 9), SIXTEEN_BIT | {"fp8", "fp8_e4m3"}),
    _Backend("TRITON_MLA", (0, 0), None, SIXTEEN_BIT | {"fp8", "fp8_e4m3"}),
)


def _why_not(backend: _Backend, kv_dtype: str, cc: tuple[int, int], head_size: int) -> list[str]:
    reasons = []
    if cc < backend.min_cc or (backend.max_cc is not None and cc > backend.max_cc):
        reasons.append("compute capability not supported")
    if kv_dtype not in backend.kv_dtypes:
        reasons.append("kv_cache_dtype not supported")
    elif kv_dtype in FP8 and backend.fp8_min_cc is not None and not (
            backend.fp8_min_cc <= cc <= (backend.fp8_max_cc or (99, 99))):
        reasons.append("kv_cache_dtype not supported")
    elif kv_dtype == "bfloat16" and cc < backend.bf16_min_cc:
        reasons.append("kv_cache_dtype not supported")
    if backend.head_sizes is not None and head_size not in backend.head_sizes:
        reasons.append("head_size not supported")
    return reasons


SPARSE_MLA_KV = frozenset({"auto", "bfloat16", "fp8_ds_mla"})


def sparse_mla_gpu_refusal(facts: ModelFacts, gpu: GpuFacts, engine: str) -> str | None:
    """vLLM's start-up error when the GPU cannot run sparse MLA (DeepSeek-V3.2) at all, else None."""
    if facts.mla is None or not facts.mla.sparse or engine != "v1" or gpu.vendor != "nvidia":
        return None     # ROCm's sparse-MLA backends are not judged here
    cc = gpu.compute_capability
    if (9, 0) <= cc < (11, 0):
        return None
    return (f"No valid attention backend found for cuda with head_size={facts.head_dim}, use_mla=True, "
            f"use_sparse=True on the {gpu.name} (compute capability {cc[0]}.{cc[1]}). Reasons: {{FLASHMLA_SPARSE: "
            f"[compute capability not supported]}}: {facts.model_id}'s sparse attention runs only on Hopper or "
            f"Blackwell data-centre GPUs (compute capability 9.x or 10.x)")


def kv_dtype_refusal(kv_dtype: str, facts: ModelFacts, gpu: GpuFacts, engine: str) -> str | None:
    """vLLM's start-up error when no attention backend runs `kv_dtype` for this model on this
    GPU, else None. AMD GPUs: an fp8 cache needs the GPU's fp8 support. Sparse MLA's GPU check
    is `sparse_mla_gpu_refusal`."""
    if facts.mla is not None and facts.mla.sparse:
        from vllm_compile.plan.kv import sparse_mla_format

        if engine != "v1" or gpu.vendor != "nvidia" or sparse_mla_format(kv_dtype) in SPARSE_MLA_KV:
            return None
        return (f"No valid attention backend found for cuda with kv_cache_dtype={kv_dtype}, head_size="
                f"{facts.head_dim}, use_mla=True, use_sparse=True. Reasons: {{FLASHMLA_SPARSE: [kv_cache_dtype "
                f"not supported]}}: sparse MLA stores auto, bfloat16 or fp8 (as fp8_ds_mla) caches only")
    if kv_dtype == "fp8_ds_mla" and engine == "v1":
        return (f"kv_cache_dtype fp8_ds_mla is the packed cache of DeepSeek-V3.2's sparse MLA (FLASHMLA_SPARSE); "
                f"{facts.model_id} has no sparse attention and none of its attention backends stores it")
    if kv_dtype == "auto" or kv_dtype not in SIXTEEN_BIT | FP8 | {"fp8_inc"}:
        # Newer cache formats (int8_per_token_head, nvfp4, turboquant_*, ...) belong to backends
        # this table does not model; the release's own list of accepted values checks them.
        return None
    cc = gpu.compute_capability
    if gpu.vendor == "amd":
        if kv_dtype.startswith("fp8") and not gpu.fp8:
            return f"kv_cache_dtype {kv_dtype} needs fp8 support, which the {gpu.name} lacks"
        return None
    if engine != "v1":
        return None
    head_size = next((layer.head_size for layer in facts.layers if layer.head_size), 0)
    backends = _MLA if facts.mla is not None else _STANDARD
    rejected = {b.name: _why_not(b, kv_dtype, cc, head_size) for b in backends}
    if all(rejected.values()):
        reasons = ", ".join(f"{name}: [{', '.join(why)}]" for name, why in rejected.items())
        return (f"No valid attention backend found for cuda with kv_cache_dtype={kv_dtype}, head_size={head_size}, "
                f"use_mla={facts.mla is not None} on the {gpu.name} (compute capability {cc[0]}.{cc[1]}). "
                f"Reasons: {{{reasons}}}")
    return None
