"""Model facts from the vendored configs, catalog GPUs, and a short way to plan."""
from __future__ import annotations

import functools
import json
from pathlib import Path

import vllm_compile
from vllm_compile.ir.facts import ModelFacts
from vllm_compile.ir.plan import PlanRequest
from vllm_compile.plan import plan_deployment
from vllm_compile.resolve.hardware import lookup_gpu
from vllm_compile.resolve.models import facts_from_config

CONFIGS = Path(vllm_compile.__file__).parent / "data" / "model-configs"
GIB = 1 << 30

LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
LLAMA_70B = "meta-llama/Meta-Llama-3.1-70B"
LLAMA_70B_INSTRUCT = "meta-llama/Llama-3.1-70B-Instruct"
QWEN3_06B = "Qwen/Qwen3-0.6B"
DEEPSEEK_V3 = "deepseek-ai/DeepSeek-V3"
GPT_OSS_20B = "openai/gpt-oss-20b"


@functools.cache
def facts(model_id: str) -> ModelFacts:
    config = json.loads((CONFIGS / model_id / "config.json").read_text(encoding="utf-8"))
    return facts_from_config(config, model_id=model_id, source="catalog")


def gpu(name: str):
    return lookup_gpu(name)


def request(model_id: str, gpu_name: str, gpu_count: int = 1, version: str = "0.33.0", **kw) -> PlanRequest:
    return PlanRequest(vllm_version=version, model=facts(model_id), gpu=gpu(gpu_name), gpu_count=gpu_count, **kw)


def plan(model_id: str, gpu_name: str, gpu_count: int = 1, version: str = "0.33.0", **kw):
    return plan_deployment(request(model_id, gpu_name, gpu_count, version, **kw))


def sets(p) -> list[dict]:
    """Each offered fix of a plan as {spec key: value}."""
    return [dict(f.settings) for f in p.fixes]


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


# google/gemma-3-4b-it's config: the partial public copy (bench/data/model-configs/SOURCES.md, from a
# public C# test) with transformers' Gemma3TextConfig defaults for the keys it leaves out (8 heads, 4
# KV heads, head_dim 256, vocabulary 262208).
GEMMA3_4B = {"architectures": ["Gemma3ForConditionalGeneration"], "boi_token_index": 255999,
             "eoi_token_index": 256000, "image_token_index": 262144, "mm_tokens_per_image": 256,
             "model_type": "gemma3", "torch_dtype": "bfloat16",
             "text_config": {"hidden_size": 2560, "intermediate_size": 10240, "model_type": "gemma3_text",
                             "num_hidden_layers": 34, "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
                             "sliding_window": 1024, "final_logit_softcapping": 30.0,
                             "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "vocab_size": 262208},
             "vision_config": {"hidden_size": 1152, "image_size": 896, "intermediate_size": 4304,
                               "model_type": "siglip_vision_model", "num_attention_heads": 16,
                               "num_hidden_layers": 27, "patch_size": 14, "vision_use_head": False}}
