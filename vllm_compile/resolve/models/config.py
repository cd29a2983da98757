"""Typed, bounded reading of a Hugging Face `config.json`.

Every value the model-facts code uses goes through `Config`, so a hostile or broken config
(wrong types, absurd sizes, missing keys) becomes a `FactsError` naming the key instead of a
traceback deep inside the arithmetic.
"""
from __future__ import annotations

import builtins
import math
from typing import Any

# Keys vLLM reads, in order, for the longest context the model was trained for
# (`_get_and_verify_max_len`); the smallest present one wins.
MAX_LEN_KEYS = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length",
                "model_max_length", "max_target_positions", "max_sequence_length",
                "max_seq_length", "seq_len")
# First present key is the total KV-head count (`get_total_num_kv_heads`).
KV_HEAD_KEYS = ("n_head_kv", "num_kv_heads", "num_key_value_heads", "multi_query_group_num")
# transformers' attribute maps: older architectures spell the basic sizes differently.
ALIASES = {
    "num_hidden_layers": ("num_hidden_layers", "n_layer", "num_layers", "n_layers"),
    "hidden_size": ("hidden_size", "n_embd", "d_model"),
    "num_attention_heads": ("num_attention_heads", "n_head", "num_heads", "n_heads"),
    "intermediate_size": ("intermediate_size", "ffn_hidden_size", "n_inner"),
}
DTYPES = {"bfloat16": "bfloat16", "bf16": "bfloat16", "float16": "float16", "fp16": "float16",
          "half": "float16", "float32": "float32", "fp32": "float32", "float": "float32"}
# Upper bounds far above any real model; they only stop absurd configs from producing
# meaningless (or overflowing) figures.
LIMITS = {"num_hidden_layers": 1024, "hidden_size": 262_144, "num_attention_heads": 4096,
          "kv_heads": 4096, "head_dim": 4096, "intermediate_size": 2_097_152,
          "vocab_size": 4_194_304, "experts": 16_384, "positions": 1 << 31}


class FactsError(Exception):
    """A config.json that cannot be turned into model facts."""

    def __init__(self, message: str, *, key: str | None = None, fix: str | None = None):
        super().__init__(message)
        self.message = message
        self.key = key
        self.fix = fix


class Config:
    """Read access to one (text) config dict with type and range checks."""

    def __init__(self, data: dict, *, where: str = ""):
        if not isinstance(data, dict):
            raise FactsError(f"config{where} is not a JSON object (found {type(data).__name__})")
        self.data = data
        self.where = where

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, key: str, default: Any = None) -> Any:
        value = self.data.get(key)
        return default if value is None else value

    def int(self, key: str, default: int | None = None, *, limit: int | None = None,
            minimum: int = 1, aliases: tuple[str, ...] = ()) -> int:
        for name in aliases or ALIASES.get(key, (key,)):
            if self.data.get(name) is not None:
                return self._check_int(name, self.data[name], limit, minimum)
        if default is None:
            raise FactsError(f"config{self.where} lacks `{key}`", key=key)
        return default

    def opt_int(self, key: str, *, limit: builtins.int | None = None, minimum: builtins.int = 1) -> builtins.int | None:
        value = self.data.get(key)
        return None if value is None else self._check_int(key, value, limit, minimum)

    def _check_int(self, key: str, value: Any, limit: builtins.int | None, minimum: builtins.int) -> builtins.int:
        # JSON writers sometimes emit 4096.0; accept integral floats, refuse the rest.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise FactsError(f"config{self.where} `{key}` must be an integer, found {value!r}", key=key)
        if value < minimum:
            raise FactsError(f"config{self.where} `{key}` must be at least {minimum}, found {value}", key=key)
        if limit is not None and value > limit:
            raise FactsError(f"config{self.where} `{key}` = {value} is beyond any real model (limit {limit})",
                             key=key)
        return value

    def number(self, key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or value <= 0:
            raise FactsError(f"config{self.where} `{key}` must be a positive number, found {value!r}", key=key)
        return float(value)

    def bool(self, key: str, default: bool) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise FactsError(f"config{self.where} `{key}` must be true or false, found {value!r}", key=key)
        return value

    def str(self, key: str, default: str | None = None) -> str | None:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise FactsError(f"config{self.where} `{key}` must be a string, found {value!r}", key=key)
        return value

    def list(self, key: builtins.str) -> list | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            raise FactsError(f"config{self.where} `{key}` must be a list, found {value!r}", key=key)
        return value

    def dict(self, key: builtins.str) -> dict | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise FactsError(f"config{self.where} `{key}` must be an object, found {value!r}", key=key)
        return value


def text_config(config: dict) -> tuple[Config, bool]:
    """The language-model part of a config and whether the model is multimodal.

    Like vLLM's `get_hf_text_config`: a multimodal config keeps its LLM in `text_config`
    (Llama 4, Mistral 3, Gemma 3, Qwen-VL …) or, in InternVL's remote-code layout
    (`internvl_chat`), in `llm_config`, which vLLM reads as the text config."""
    top = Config(config)
    key = "text_config" if top.has("text_config") or not top.has("llm_config") else "llm_config"
    sub = top.dict(key)
    if sub is not None and any(sub.get(k) is not None for k in ALIASES["num_attention_heads"]):
        merged = dict(sub)
        # Some multimodal configs state dtype/quantization only at the top level.
        for key in ("torch_dtype", "dtype", "quantization_config", "tie_word_embeddings"):
            if merged.get(key) is None and config.get(key) is not None:
                merged[key] = config[key]
        if merged.get("model_type") is None:
            merged["model_type"] = config.get("model_type")
        return Config(merged, where=f".{key}"), True
    multimodal = any(top.has(k) for k in ("vision_config", "audio_config"))
    return top, multimodal


def head_dim(c: Config, hidden: int, heads: int) -> int:
    """An explicit `head_dim` wins over hidden/heads (Qwen3, Gemma, Mistral-Nemo)."""
    if c.has("head_dim"):
        return c.int("head_dim", limit=LIMITS["head_dim"])
    if c.has("attention_head_dim"):   # Nemotron-H
        return c.int("attention_head_dim", limit=LIMITS["head_dim"])
    if hidden % heads:
        raise FactsError(f"config{c.where} hidden_size {hidden} is not divisible by num_attention_heads "
                         f"{heads} and no head_dim is given", key="head_dim")
    return hidden // heads


def kv_heads(c: Config, heads: int) -> int:
    if c.raw("multi_query") is True:   # Falcon
        return 1
    for key in KV_HEAD_KEYS:
        if c.has(key):
            return c.int(key, limit=LIMITS["kv_heads"], aliases=(key,))
    return heads


def rope_parameters(c: Config) -> dict | None:
    """`rope_scaling` (transformers v4) or `rope_parameters` (v5), with `type` read as `rope_type`."""
    rope = c.dict("rope_scaling") or c.dict("rope_parameters")
    if not rope:
        return None
    rope = dict(rope)
    if "rope_type" not in rope and "type" in rope:
        rope["rope_type"] = rope["type"]
    return rope


def max_len_stated(c: Config) -> bool:
    """Whether the config names any of the length keys vLLM reads."""
    return any(c.has(k) for k in MAX_LEN_KEYS)


def max_model_len(c: Config, model_type: str) -> int:
    """The longest context vLLM derives from the config (`_get_and_verify_max_len`): the smallest
    of the length keys present, times the rope scaling factor for every rope type except
    su/longrope/llama3 (those keep the stated length); YaRN scales its original length."""
    present = [c.int(k, limit=LIMITS["positions"], aliases=(k,)) for k in MAX_LEN_KEYS if c.has(k)]
    length: float = min(present) if present else 2048
    rope = rope_parameters(c)
    if rope and "gemma3" not in model_type:
        kind = rope.get("rope_type", "default")
        if kind not in ("su", "longrope", "llama3"):
            factor = c.number("rope_scaling.factor", rope["factor"]) if rope.get("factor") is not None else 1.0
            if kind == "yarn" and rope.get("original_max_position_embeddings") is not None:
                length = c.number("rope_scaling.original_max_position_embeddings",
                                  rope["original_max_position_embeddings"])
            length *= factor
    if length > LIMITS["positions"]:
        raise FactsError(f"config{c.where} derives a context of {int(length)} tokens, beyond any real model",
                         key="max_position_embeddings")
    return int(length)


def checkpoint_dtype(c: Config) -> str:
    name = c.raw("torch_dtype", c.raw("dtype", "bfloat16"))
    if not isinstance(name, str) or name.lower().removeprefix("torch.") not in DTYPES:
        raise FactsError(f"config{c.where} `torch_dtype` {name!r} is not one of bfloat16, float16, float32",
                         key="torch_dtype")
    return DTYPES[name.lower().removeprefix("torch.")]
