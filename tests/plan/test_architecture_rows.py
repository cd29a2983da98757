"""Every architecture the planner reads is refused on the releases before its first one (issue 15,
"Any vLLM release: users pin old images too"): an architecture without a planner-rules.json
`architectures` row is accepted on every release, so each one the oldest bundled release
(0.6.6.post1) does not serve needs a row whose `since` is the first release whose model registry
lists it (read from the release wheels' vllm/model_executor/models/registry.py)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from plan_support import CONFIGS, GEMMA3_4B, plan, request, sets
from test_plan_minimax import MINIMAX_TEXT_01

from vllm_compile.plan import plan_deployment, rules_data
from vllm_compile.versions import release_key
from vllm_compile.resolve.models import facts_from_config
from vllm_compile.resolve.models import audio, families, vision

OLDEST_REGISTRY = json.loads((Path(__file__).parent.parent / "data" / "vllm-0.6.6.post1-registry.json")
                             .read_text(encoding="utf-8"))

# The architecture names (config.json `architectures`) under which Hugging Face checkpoints of each
# model_type the planner reads are published (several for one model_type where both spellings exist).
ARCHITECTURES: dict[str, tuple[str, ...]] = {
    "llama": ("LlamaForCausalLM",), "mistral": ("MistralForCausalLM",), "yi": ("LlamaForCausalLM",),
    "granite": ("GraniteForCausalLM",), "exaone": ("ExaoneForCausalLM",), "internlm2": ("InternLM2ForCausalLM",),
    "olmo2": ("Olmo2ForCausalLM",), "qwen2": ("Qwen2ForCausalLM",), "qwen2_moe": ("Qwen2MoeForCausalLM",),
    "qwen3": ("Qwen3ForCausalLM",), "qwen3_moe": ("Qwen3MoeForCausalLM",), "mixtral": ("MixtralForCausalLM",),
    "phi3": ("Phi3ForCausalLM",), "gemma": ("GemmaForCausalLM",), "gemma2": ("Gemma2ForCausalLM",),
    "gemma3_text": ("Gemma3ForCausalLM",), "gpt_oss": ("GptOssForCausalLM",),
    "deepseek_v2": ("DeepseekV2ForCausalLM",), "deepseek_v3": ("DeepseekV3ForCausalLM",),
    "kimi_k2": ("DeepseekV3ForCausalLM",), "deepseek_v32": ("DeepseekV32ForCausalLM",),
    "mllama_text_model": ("MllamaForConditionalGeneration",), "mllama": ("MllamaForConditionalGeneration",),
    "llama4_text": ("Llama4ForCausalLM",), "llama4": ("Llama4ForConditionalGeneration",),
    "qwen3_next": ("Qwen3NextForCausalLM",), "qwen3_5_text": ("Qwen3_5ForCausalLM",),
    "qwen3_5_moe_text": ("Qwen3_5MoeForCausalLM",), "qwen3_5": ("Qwen3_5ForConditionalGeneration",),
    "qwen3_5_moe": ("Qwen3_5MoeForConditionalGeneration",),
    "granitemoehybrid": ("GraniteMoeHybridForCausalLM",), "nemotron_h": ("NemotronHForCausalLM",),
    "jamba": ("JambaForCausalLM",), "bamba": ("BambaForCausalLM",), "falcon_h1": ("FalconH1ForCausalLM",),
    "kimi_linear": ("KimiLinearForCausalLM",), "minimax_text_01": ("MiniMaxText01ForCausalLM",),
    "minimax_m1": ("MiniMaxM1ForCausalLM",), "mamba": ("MambaForCausalLM",),
    "falcon_mamba": ("FalconMambaForCausalLM",), "mamba2": ("Mamba2ForCausalLM",),
    "qwen2_vl": ("Qwen2VLForConditionalGeneration",), "qwen2_5_vl": ("Qwen2_5_VLForConditionalGeneration",),
    "qwen3_vl": ("Qwen3VLForConditionalGeneration",), "qwen3_vl_moe": ("Qwen3VLMoeForConditionalGeneration",),
    "gemma3": ("Gemma3ForConditionalGeneration",), "mistral3": ("Mistral3ForConditionalGeneration",),
    "pixtral": ("PixtralForConditionalGeneration",), "llava": ("LlavaForConditionalGeneration",),
    "internvl_chat": ("InternVLChatModel",), "NVLM_D": ("NVLM_D",), "internvl": ("InternVLForConditionalGeneration",),
    "qwen2_audio": ("Qwen2AudioForConditionalGeneration",),
    "qwen2_5_omni_thinker": ("Qwen2_5OmniModel", "Qwen2_5OmniForConditionalGeneration"),
}


def _planner_model_types() -> set[str]:
    return set(families.FAMILIES) | set(families.TEXT_FAMILY) | set(vision.TOWER_OF) | set(audio.DEFAULTS)


def _catalog_architectures() -> set[str]:
    out = set()
    for path in CONFIGS.glob("*/*/config.json"):
        out.update(json.loads(path.read_text(encoding="utf-8")).get("architectures") or [])
    return out


def test_every_model_type_the_planner_reads_names_its_architectures_here():
    # A new family, tower or audio model_type fails here until its architecture is listed above
    # (and then below, until it has a row or the oldest release serves it).
    assert _planner_model_types() <= set(ARCHITECTURES), sorted(_planner_model_types() - set(ARCHITECTURES))


def test_every_architecture_has_a_row_or_is_served_by_the_oldest_bundled_release():
    rows = rules_data.data()["architectures"]
    oldest = set(OLDEST_REGISTRY["architectures"])
    read = {a for t in _planner_model_types() for a in ARCHITECTURES[t]} | _catalog_architectures()
    missing = sorted(a for a in read if a not in oldest and a not in rows)
    assert not missing, f"no planner-rules.json architectures row and not in vLLM 0.6.6.post1's registry: {missing}"
    # Rows name a release, and one the oldest bundled registry lists is no later than it.
    for name, row in rows.items():
        if name == "about":
            continue
        assert row["since"] and row["why"], name
        if name in oldest:
            assert release_key(row["since"]) <= release_key(OLDEST_REGISTRY["release"]), name


@pytest.mark.parametrize(("model_id", "architecture", "before", "first", "gpu_name", "gpus"), [
    ("Qwen/Qwen3-8B", "Qwen3ForCausalLM", "0.8.3", "0.8.4", "H100", 1),
    ("Qwen/Qwen3-30B-A3B", "Qwen3MoeForCausalLM", "0.8.3", "0.8.4", "H100", 1),
    ("Qwen/Qwen2.5-VL-7B-Instruct", "Qwen2_5_VLForConditionalGeneration", "0.7.1", "0.7.2", "H100", 1),
    ("meta-llama/Llama-4-Scout-17B-16E-Instruct", "Llama4ForConditionalGeneration", "0.8.2", "0.8.3", "H100", 8),
    ("openai/gpt-oss-20b", "GptOssForCausalLM", "0.10.0", "0.10.1", "H100", 1),
    ("deepseek-ai/DeepSeek-V3", "DeepseekV3ForCausalLM", "0.6.5", "0.6.6", "H200", 8),
    ("google/gemma-2-9b-it", "Gemma2ForCausalLM", "0.5.0", "0.5.1", "H100", 1),
    ("Qwen/Qwen3.6-35B-A3B", "Qwen3_5MoeForConditionalGeneration", "0.16.0", "0.17.0", "H100", 2),
])
def test_refused_before_its_first_release_with_that_release_offered(model_id, architecture, before, first,
                                                                    gpu_name, gpus):
    old = plan(model_id, gpu_name, gpus, before, max_model_len=8192)
    assert old.verdict == "invalid" and old.failure_key == "engine.version"
    assert f"Model architectures ['{architecture}'] are not supported for now" in old.reasons[0]
    assert f"support came in vLLM {first}" in old.reasons[0]
    assert {"engine.version": first} in sets(old)
    assert plan(model_id, gpu_name, gpus, first, max_model_len=8192).verdict != "invalid"


# MiniMax-Text-01's layers, 2 of its 80 (a lightning and a softmax-attention one), so that one H100 holds it.
MINIMAX_2 = {**MINIMAX_TEXT_01, "num_hidden_layers": 2, "attn_type_list": [0, 1]}


def _hand_plan(config: dict, model_id: str, version: str):
    f = facts_from_config(config, model_id=model_id, source="spec")
    return plan_deployment(dataclasses.replace(request("Qwen/Qwen3-8B", "H100", 1, version, max_model_len=8192), model=f))


def test_gemma3_is_refused_on_0_7_3_and_served_from_0_8_0():
    old = _hand_plan(GEMMA3_4B, "google/gemma-3-4b-it", "0.7.3")
    assert old.verdict == "invalid" and old.failure_key == "engine.version"
    assert "Model architectures ['Gemma3ForConditionalGeneration'] are not supported for now" in old.reasons[0]
    assert {"engine.version": "0.8.0"} in sets(old)
    assert _hand_plan(GEMMA3_4B, "google/gemma-3-4b-it", "0.8.0").verdict != "invalid"


@pytest.mark.parametrize("architecture", ["MiniMaxText01ForCausalLM", "MiniMaxM1ForCausalLM"])
def test_minimax_is_served_until_0_23_0_and_refused_from_0_24_0(architecture):
    # 0.24.0's registry.py no longer lists it; 0.33.0's _PREVIOUSLY_SUPPORTED_MODELS maps it to 0.23.0.
    config = {**MINIMAX_2, "architectures": [architecture]}
    assert _hand_plan(config, "t/minimax", "0.23.0").failure_key != "engine.version"
    gone = _hand_plan(config, "t/minimax", "0.24.0")
    assert gone.verdict == "invalid" and gone.failure_key == "engine.version"
    assert (f"Model architecture {architecture} was supported in vLLM until v0.23.0, and is not supported anymore"
            in gone.reasons[0])
    assert {"engine.version": "0.23.0"} in sets(gone)


def test_minimax_m1_and_nemotron_h_first_releases_follow_their_registries():
    # MiniMaxM1ForCausalLM: first in 0.9.2's registry (0.9.1's has MiniMaxText01ForCausalLM only);
    # NemotronHForCausalLM: first in 0.9.1's (0.9.0 and 0.9.0.1 have none).
    m1 = _hand_plan({**MINIMAX_2, "architectures": ["MiniMaxM1ForCausalLM"]}, "t/minimax", "0.9.1")
    assert m1.failure_key == "engine.version" and {"engine.version": "0.10.2"} in sets(m1)
    text01 = _hand_plan(MINIMAX_2, "t/minimax", "0.9.1")
    assert not any("not supported" in r for r in text01.reasons)
    nano = plan("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16", "H100", 1, "0.9.0.1", max_model_len=8192)
    assert "Model architectures ['NemotronHForCausalLM'] are not supported for now" in nano.reasons[0]
    assert "support came in vLLM 0.9.1" in nano.reasons[0]
