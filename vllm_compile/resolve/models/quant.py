"""Quantization: what the checkpoint (or the spec) declares, and how many bytes one linear takes.

The byte formulas follow the tensors each method stores (reference §3.2): AWQ/GPTQ pack
4/8-bit weights into int32 with 16-bit group scales and packed zeros (+ an int32 `g_idx`
with act-order); FP8 stores one byte per weight plus fp32 scales per tensor, channel or
128×128 block; MXFP4 stores e2m1 nibbles plus one e8m0 scale per 32 (4.25 bits); NVFP4 an fp8
scale per 16; bitsandbytes 4-bit an fp32 absmax per 64, or with double quant a uint8 one plus an
fp32 absmax per 256 of those (what a checkpoint stores; vLLM's in-flight quantization always
double-quantizes).
"""
from __future__ import annotations

import fnmatch
import re
from vllm_compile.fastclass import dataclass

from vllm_compile.ir.facts import QuantFacts

from .config import FactsError


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True, slots=True)
class Layout:
    """How quantized linears are stored; `kind` picks the formula."""

    facts: QuantFacts | None
    kind: str = "none"            # none | int_group | fp8 | int8 | mxfp4 | nvfp4 | bnb4
    zeros: bool = False           # int_group: packed zero points stored
    g_idx: bool = False           # int_group: act-order index stored
    fp8_scales: str = "tensor"    # fp8: tensor | channel | block
    input_scale: bool = False     # fp8 static activations: one fp32 input scale
    double_quant: bool = False    # bnb4
    experts_only: bool = False    # MXFP4 in vLLM only covers the fused MoE experts
    lm_head: bool = False         # the checkpoint quantizes lm_head too

    def quantizes(self, name: str, *, expert: bool) -> bool:
        if self.facts is None or self.kind == "none" or (self.experts_only and not expert):
            return False
        return not any(_matches(name, pattern) for pattern in self.facts.excluded_modules)

    def linear_bytes(self, rows: int, cols: int) -> int:
        """Bytes of one quantized weight of `rows` outputs × `cols` inputs (bias not included)."""
        n = rows * cols
        f = self.facts
        if self.kind == "int_group":
            assert f is not None and f.bits, "an int_group layout carries its bit width"
            group = f.group_size if f.group_size and f.group_size > 0 else cols
            groups = _ceil(cols, group)
            packed = rows * _ceil(cols * f.bits, 32) * 4
            scales = groups * rows * 2
            zeros = groups * _ceil(rows * f.bits, 32) * 4 if self.zeros else 0
            return packed + scales + zeros + (cols * 4 if self.g_idx else 0)
        if self.kind == "fp8":
            if self.fp8_scales == "block":
                assert f is not None and f.weight_block_size, "a block-scaled fp8 layout carries its block size"
                block_rows, block_cols = f.weight_block_size
                scales = _ceil(rows, block_rows) * _ceil(cols, block_cols) * 4
            else:
                scales = rows * 4 if self.fp8_scales == "channel" else 4
            return n + scales + (4 if self.input_scale else 0)
        if self.kind == "int8":
            return n + rows * 4
        if self.kind == "mxfp4":
            return n // 2 + rows * _ceil(cols, 32)
        if self.kind == "nvfp4":
            return n // 2 + rows * _ceil(cols, 16) + 4
        if self.kind == "bnb4":
            blocks = _ceil(n, 64)
            absmax = blocks + _ceil(blocks, 256) * 4 + 4 if self.double_quant else blocks * 4
            return _ceil(n, 2) + absmax
        raise AssertionError(self.kind)

    def absmax_growth(self, rows: int, cols: int) -> int:
        """Bytes one double-quantized bnb weight gains when its uint8 absmax (plus the fp32
        second-level scales and offset) is replaced by the fp32 absmax it encodes."""
        if self.kind != "bnb4" or not self.double_quant:
            return 0
        blocks = _ceil(rows * cols, 64)
        return blocks * 4 - (blocks + _ceil(blocks, 256) * 4 + 4)


NONE = Layout(facts=None)

# `--quantization` values that load a checkpoint of the given method (kernel variants).
COMPATIBLE = {
    "awq": {"awq", "awq_marlin", "auto_awq", "moe_wna16"},
    "gptq": {"gptq", "gptq_marlin", "auto_gptq", "moe_wna16"},
    "fp8": {"fp8"},
    "mxfp4": {"mxfp4", "gpt_oss_mxfp4"},
    "compressed-tensors": {"compressed-tensors"},
    "modelopt": {"modelopt"},
    "modelopt_fp4": {"modelopt_fp4"},
    "bitsandbytes": {"bitsandbytes"},
    "fbgemm_fp8": {"fbgemm_fp8"},
}
# Methods vLLM can apply to a 16-bit checkpoint while loading it.
ONLINE = {"fp8": "fp8", "fp8_per_tensor": "fp8", "fp8_per_channel": "fp8", "fp8_per_block": "fp8",
          "bitsandbytes": "bitsandbytes", "int8_per_channel_weight_only": "int8"}


def _matches(name: str, pattern: str) -> bool:
    """Whether module `name` is covered by an exclusion entry.

    Entries come as full names, name suffixes ("lm_head", "mlp.gate"), shell globs
    ("model.layers.*.self_attn") or compressed-tensors regexes ("re:.*mlp.gate$"); plain names
    match on whole dotted components so "mlp.gate" never swallows "mlp.gate_proj"."""
    if pattern.startswith("re:"):
        try:
            return re.fullmatch(pattern[3:], name) is not None or re.match(pattern[3:], name) is not None
        except re.error:
            return False
    if "*" in pattern or "?" in pattern:
        return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(name, pattern + ".*")
    return f".{pattern}." in f".{name}."


def _exclusions(q: dict, *keys: str) -> tuple[str, ...]:
    out: list[str] = []
    for key in keys:
        value = q.get(key)
        if isinstance(value, list):
            out.extend(str(v) for v in value if isinstance(v, str))
    return tuple(out)


def _int(q: dict, key: str, default: int | None) -> int | None:
    value = q.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not -1 <= value <= 1 << 20:
        raise FactsError(f"quantization_config `{key}` must be an integer, found {value!r}",
                         key=f"quantization_config.{key}")
    return value


def parse(quant_config: dict | None, hf_quant_config: dict | None) -> tuple[Layout, list[str]]:
    """The checkpoint's layout from `quantization_config` (config.json) or `hf_quant_config.json`."""
    warnings: list[str] = []
    if hf_quant_config and not quant_config:
        quant_config = _from_modelopt_file(hf_quant_config)
    if not quant_config:
        return NONE, warnings
    if not isinstance(quant_config, dict):
        raise FactsError("`quantization_config` must be an object", key="quantization_config")
    q = quant_config
    method = q.get("quant_method")
    if not isinstance(method, str):
        raise FactsError("`quantization_config` has no `quant_method`", key="quantization_config.quant_method")
    method = method.lower()
    if method == "awq":
        bits = _int(q, "bits", 4) or _int(q, "w_bit", 4)
        facts = QuantFacts(method="awq", bits=bits, group_size=_int(q, "group_size", None) or _int(q, "q_group_size", 128),
                           excluded_modules=_exclusions(q, "modules_to_not_convert"))
        return Layout(facts, "int_group", zeros=q.get("zero_point", True) is not False), warnings
    if method == "gptq":
        desc_act = q.get("desc_act") is True
        facts = QuantFacts(method="gptq", bits=_int(q, "bits", 4), group_size=_int(q, "group_size", 128),
                           desc_act=desc_act, excluded_modules=_exclusions(q, "modules_to_not_convert"))
        return Layout(facts, "int_group", zeros=True, g_idx=desc_act, lm_head=q.get("lm_head") is True), warnings
    if method in ("fp8", "fbgemm_fp8"):
        block = q.get("weight_block_size")
        if block is not None and (not isinstance(block, list) or len(block) != 2
                                  or not all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in block)):
            raise FactsError(f"`weight_block_size` must be two positive integers, found {block!r}",
                             key="quantization_config.weight_block_size")
        scheme = q.get("activation_scheme", "dynamic")
        facts = QuantFacts(method=method, bits=8, weight_block_size=tuple(block) if block else None,
                           activation_scheme=scheme if isinstance(scheme, str) else None,
                           excluded_modules=_exclusions(q, "modules_to_not_convert", "ignored_layers",
                                                        "modules_to_not_quantize"))
        scales = "block" if block else ("channel" if method == "fbgemm_fp8" else "tensor")
        return Layout(facts, "fp8", fp8_scales=scales, input_scale=scheme == "static"), warnings
    if method == "mxfp4":
        facts = QuantFacts(method="mxfp4", bits=4, group_size=32,
                           excluded_modules=_exclusions(q, "modules_to_not_convert"))
        return Layout(facts, "mxfp4", experts_only=True), warnings
    if method == "bitsandbytes":
        eight = q.get("load_in_8bit") is True and q.get("load_in_4bit") is not True
        facts = QuantFacts(method="bitsandbytes", bits=8 if eight else 4, group_size=None if eight else 64,
                           excluded_modules=_exclusions(q, "llm_int8_skip_modules"))
        return Layout(facts, "int8" if eight else "bnb4",
                      double_quant=q.get("bnb_4bit_use_double_quant") is True), warnings
    if method == "compressed-tensors":
        return _compressed_tensors(q), warnings
    if method in ("modelopt", "modelopt_fp4"):
        return _modelopt(q), warnings
    warnings.append(f"quantization method {method!r} is not modelled: its linears are counted at 16 bits, "
                    "so weight_bytes is an upper bound")
    return Layout(QuantFacts(method=method, excluded_modules=_exclusions(q, "modules_to_not_convert"))), warnings


def _from_modelopt_file(hf_quant_config: dict) -> dict:
    section = hf_quant_config.get("quantization")
    if not isinstance(section, dict):
        raise FactsError("hf_quant_config.json has no `quantization` object", key="quantization")
    return {"quant_method": "modelopt", **section}


def _modelopt(q: dict) -> Layout:
    algo = str(q.get("quant_algo", "FP8")).upper()
    excluded = _exclusions(q, "exclude_modules", "ignore")
    if algo == "FP8":
        # ModelOpt FP8 is per-tensor with a static fp32 input scale on every linear.
        facts = QuantFacts(method="modelopt", bits=8, activation_scheme="static", excluded_modules=excluded)
        return Layout(facts, "fp8", fp8_scales="tensor", input_scale=True)
    if algo == "NVFP4":
        facts = QuantFacts(method="modelopt_fp4", bits=4, group_size=16, excluded_modules=excluded)
        return Layout(facts, "nvfp4")
    raise FactsError(f"ModelOpt quant_algo {algo!r} is not supported (FP8, NVFP4 are)",
                     key="quantization_config.quant_algo")


def _compressed_tensors(q: dict) -> Layout:
    groups = q.get("config_groups")
    if not isinstance(groups, dict) or not groups:
        raise FactsError("compressed-tensors `config_groups` is missing", key="quantization_config.config_groups")
    # One scheme per checkpoint covers every model we size; the first group stands for all.
    group = next(iter(groups.values()))
    weights = group.get("weights") if isinstance(group, dict) else None
    if not isinstance(weights, dict):
        raise FactsError("compressed-tensors group has no `weights` scheme", key="quantization_config.config_groups")
    bits = _int(weights, "num_bits", 8)
    kind_name = weights.get("type", "int")
    strategy = weights.get("strategy", "tensor")
    activations = group.get("input_activations")
    excluded = _exclusions(q, "ignore")
    block = weights.get("block_structure")
    facts = QuantFacts(method="compressed-tensors", bits=bits, group_size=_int(weights, "group_size", None),
                       weight_block_size=tuple(block) if isinstance(block, list) and len(block) == 2 else None,
                       activation_scheme=("dynamic" if isinstance(activations, dict) and activations.get("dynamic")
                                          else "static" if activations else None),
                       excluded_modules=excluded)
    if kind_name == "float" and bits == 8:
        scales = {"block": "block", "channel": "channel"}.get(strategy, "tensor")
        if scales == "block" and facts.weight_block_size is None:
            raise FactsError("compressed-tensors block strategy without `block_structure`",
                             key="quantization_config.config_groups")
        static = isinstance(activations, dict) and not activations.get("dynamic")
        return Layout(facts, "fp8", fp8_scales=scales, input_scale=static)
    if kind_name == "float" and bits == 4:
        return Layout(facts, "nvfp4")
    if kind_name == "int" and bits == 8 and activations:
        return Layout(facts, "int8")
    if kind_name == "int" and bits in (2, 3, 4, 8):
        return Layout(facts, "int_group", zeros=weights.get("symmetric", True) is False,
                      g_idx=weights.get("actorder") not in (None, False))
    raise FactsError(f"compressed-tensors scheme {kind_name}{bits} is not supported",
                     key="quantization_config.config_groups")


def apply_spec(layout: Layout, requested: str | None) -> Layout:
    """The layout after `model.quantization` from the spec: a kernel variant of the checkpoint's
    method keeps its layout; an online method quantizes a 16-bit checkpoint at load."""
    if not requested:
        return layout
    requested = requested.lower()
    if layout.facts is not None and layout.kind != "none":
        method = layout.facts.method
        if requested in COMPATIBLE.get(method, {method}):
            return layout
        raise FactsError(f"the checkpoint is quantized with {method!r}, which vLLM cannot load as "
                         f"{requested!r}", key="model.quantization",
                         fix=f"drop model.quantization or set it to {method!r}")
    if requested not in ONLINE:
        raise FactsError(f"quantization {requested!r} needs a checkpoint quantized with it, but the "
                         "checkpoint is 16-bit", key="model.quantization",
                         fix="use a pre-quantized repo, or an online method: " + ", ".join(sorted(ONLINE)))
    kind = ONLINE[requested]
    if kind == "bitsandbytes":
        # vLLM quantizes in flight with quantize_4bit(compress_statistics=True): the per-64
        # absmax is itself quantized to uint8 (bitsandbytes_loader.py, _unquantized_generator).
        facts = QuantFacts(method="bitsandbytes", bits=4, group_size=64, prequantized=False)
        return Layout(facts, "bnb4", double_quant=True)
    if kind == "int8":
        return Layout(QuantFacts(method=requested, bits=8, prequantized=False), "int8")
    scales = {"fp8_per_channel": "channel", "fp8_per_block": "block"}.get(requested, "tensor")
    facts = QuantFacts(method=requested, bits=8, activation_scheme="dynamic", prequantized=False,
                       weight_block_size=(128, 128) if scales == "block" else None,
                       excluded_modules=("lm_head",))
    return Layout(facts, "fp8", fp8_scales=scales)
