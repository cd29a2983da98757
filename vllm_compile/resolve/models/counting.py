"""Exact parameter counts and weight bytes from the per-layer tensors.

Parameters are logical (a packed 4-bit weight still counts rows × cols); bytes are what vLLM
holds after loading: quantized linears per `Layout`, everything else at the load dtype
(16-bit for bf16/fp16/fp32 checkpoints under `--dtype auto`), fixed-size buffers as stored.
"""
from __future__ import annotations

from vllm_compile.fastclass import dataclass

from vllm_compile.ir.facts import LayerFacts

from .families import Arch, Tensor
from .quant import Layout

# Bytes per element of the safetensors dtypes.
SAFETENSORS_BYTES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2,
                     "I16": 2, "U16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "I8": 1, "U8": 1,
                     "BOOL": 1, "F4": 1}


@dataclass(frozen=True, slots=True)
class Weights:
    layers: tuple[LayerFacts, ...]
    parameters: int
    weight_bytes: int
    embedding_bytes_per_row: int
    lm_head_bytes_per_row: int
    final_norm_bytes: int


def tensor_bytes(t: Tensor, layout: Layout, elem: int) -> int:
    if t.cols and t.quantizable and layout.quantizes(t.name, expert=t.part == "expert"):
        return layout.linear_bytes(t.rows, t.cols) * t.copies
    return t.parameters * (t.elem_bytes or elem)


def absmax_growth(t: Tensor, layout: Layout) -> int:
    if t.cols and t.quantizable and layout.quantizes(t.name, expert=t.part == "expert"):
        return layout.absmax_growth(t.rows, t.cols) * t.copies
    return 0


def layer_facts(layers, layout: Layout, elem: int, first_index: int = 0) -> tuple[LayerFacts, ...]:
    out = []
    for i, layer in enumerate(layers, first_index):
        parts = {"sharded": 0, "replicated": 0, "expert": 0}
        growth = {"sharded": 0, "replicated": 0, "expert": 0}
        for t in layer.tensors:
            parts[t.part] += tensor_bytes(t, layout, elem)
            growth[t.part] += absmax_growth(t, layout)
        out.append(LayerFacts(
            index=i, attention=layer.attention, window=layer.window, kv_heads=layer.kv_heads,
            head_size=layer.head_size, head_size_v=layer.head_size_v, is_moe=layer.is_moe,
            sharded_bytes=parts["sharded"], replicated_bytes=parts["replicated"], expert_bytes=parts["expert"],
            parameters=sum(t.parameters for t in layer.tensors),
            absmax_growth=(growth["sharded"], growth["replicated"], growth["expert"]),
            conv_state=layer.conv_state, ssm_state=layer.ssm_state, ssm_state_fp32=layer.ssm_state_fp32,
            ssm_groups=layer.ssm_groups, conv_group_state=layer.conv_group_state, mixer=layer.mixer,
            ssm_heads=layer.ssm_heads, mixer_width=layer.mixer_width,
            group_weight_bytes=sum(tensor_bytes(t, layout, elem) for t in layer.group_tensors),
            state_bytes=layer.conv_state * elem + layer.ssm_state * (4 if layer.ssm_state_fp32 else elem),
            index_key_bytes=layer.index_key_bytes))
    return tuple(out)


def weigh(arch: Arch, layout: Layout, elem: int) -> Weights:
    layers = layer_facts(arch.layers, layout, elem)
    embedding_row = arch.hidden * elem
    if layout.lm_head and layout.quantizes("lm_head", expert=False):
        lm_row = -(-layout.linear_bytes(arch.vocab, arch.hidden) // arch.vocab)
    else:
        lm_row = arch.hidden * 4 if arch.lm_head_fp32 else embedding_row
    final_norm = arch.hidden * elem
    heads = 1 if arch.tie else 2
    parameters = sum(layer.parameters for layer in layers) + arch.vocab * arch.hidden * heads + arch.hidden
    weight_bytes = (sum(layer.sharded_bytes + layer.replicated_bytes + layer.expert_bytes for layer in layers)
                    + arch.vocab * embedding_row + (0 if arch.tie else arch.vocab * lm_row) + final_norm)
    return Weights(tuple(layers), parameters, weight_bytes, embedding_row, lm_row, final_norm)


def header_bytes(dtype_counts: dict[str, int], checkpoint_dtype: str, elem: int) -> int:
    """Bytes vLLM loads for a checkpoint whose safetensors headers hold `dtype_counts` elements
    per dtype. A float32 checkpoint is cast to the 16-bit load dtype; other fp32 tensors
    (quantization scales, routing biases) stay fp32."""
    total = 0
    for dtype, count in dtype_counts.items():
        size = SAFETENSORS_BYTES.get(dtype.upper())
        if size is None:
            raise ValueError(f"unknown safetensors dtype {dtype!r}")
        if dtype.upper() == "F32" and checkpoint_dtype == "float32":
            size = elem
        total += count * size
    return total


def loaded_dtype_counts(tensors, config: dict) -> dict[str, int]:
    """Per-dtype element counts of the checkpoint tensors vLLM loads, from (name, dtype, shape)
    triples read out of safetensors headers. Left out: the multi-token-prediction layers that
    DeepSeek-style checkpoints append after the last decoder layer (vLLM serves without them
    unless speculative decoding asks for them) and saved rotary `inv_freq` buffers."""
    import re

    from .config import text_config

    c, _ = text_config(config)
    mtp = c.opt_int("num_nextn_predict_layers", minimum=0) or 0
    layers = c.int("num_hidden_layers") if mtp else None
    counts: dict[str, int] = {}
    for name, dtype, shape in tensors:
        if name.endswith("rotary_emb.inv_freq"):
            continue
        if layers is not None:
            hit = re.search(r"(?:^|\.)layers\.(\d+)\.", name)
            if hit and int(hit.group(1)) >= layers:
                continue
        numel = 1
        for dim in shape:
            numel *= int(dim)
        counts[str(dtype).upper()] = counts.get(str(dtype).upper(), 0) + numel
    return dict(sorted(counts.items()))
