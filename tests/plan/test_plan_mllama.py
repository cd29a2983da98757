"""Llama-3.2-Vision (`mllama`, issue 15 part 1): the vision tower, projector and the language
model's gated cross-attention layers counted as vLLM's mllama.py builds them; the releases that
serve it (0.6.2 - 0.10.2, always on the V0 engine; removed with V0's encoder-decoder runner in
0.11.0); the cross-attention layers' cache of the image tokens per sequence.

The checkpoint's config.json was not found in a public copy. The shapes below are those of
Llama-3.2-11B-Vision(-Instruct) as public code quotes them (text 40 layers with cross-attention at
3, 8, ..., 38; vision 560 px, patch 14, 32 + 8 layers of width 1280); the published safetensors
count (10,670,220,835, the BF16 `parameter_count` a public script lists for
meta-llama/llama-3.2-11b-vision-instruct, search-index file id 12439498600) is matched below by
a sum written out module by module, not by the planner's own figure."""
from __future__ import annotations

import dataclasses

import pytest
from plan_support import cdiv, gpu

from vllm_compile.ir.plan import PlanRequest
from vllm_compile.plan import plan_deployment, weights
from vllm_compile.resolve.models import facts_from_config
from vllm_compile.resolve.models.config import FactsError

CROSS = [3, 8, 13, 18, 23, 28, 33, 38]
LLAMA_32_11B_VISION = {
    "architectures": ["MllamaForConditionalGeneration"], "model_type": "mllama", "torch_dtype": "bfloat16",
    "image_token_index": 128256,
    "text_config": {"model_type": "mllama_text_model", "hidden_size": 4096, "intermediate_size": 14336,
                    "num_hidden_layers": 40, "num_attention_heads": 32, "num_key_value_heads": 8,
                    "vocab_size": 128256, "max_position_embeddings": 131072, "rope_theta": 500000.0,
                    "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
                    "cross_attention_layers": CROSS, "tie_word_embeddings": False, "torch_dtype": "bfloat16"},
    "vision_config": {"model_type": "mllama_vision_model", "hidden_size": 1280, "intermediate_size": 5120,
                      "num_hidden_layers": 32, "num_global_layers": 8, "attention_heads": 16, "image_size": 560,
                      "patch_size": 14, "num_channels": 3, "max_num_tiles": 4, "vision_output_dim": 7680,
                      "intermediate_layers_indices": [3, 7, 15, 23, 30],
                      "supported_aspect_ratios": [[1, 1], [1, 2], [1, 3], [1, 4], [2, 1], [2, 2], [3, 1], [4, 1]]},
}
H, INTER, HD, KV, VOCAB = 4096, 14336, 128, 8, 128256
VH, VINTER, PATCHES, TILES = 1280, 5120, 40 * 40 + 1, 4


def mllama(config: dict | None = None):
    return facts_from_config(dict(config or LLAMA_32_11B_VISION), model_id="meta-llama/Llama-3.2-11B-Vision-Instruct",
                             source="spec")


# transformers / vLLM modules, one line each.
ATTENTION = H * H + 2 * (KV * HD) * H + H * H                           # q, k, v, o (no biases)
MLP = 3 * H * INTER
SELF_LAYER = ATTENTION + MLP + 2 * H                                   # + input / post-attention RMSNorms
CROSS_LAYER = SELF_LAYER + 2 * HD + 2                                  # + q_norm, k_norm, attn and MLP gates
TEXT = 32 * SELF_LAYER + 8 * CROSS_LAYER + (VOCAB + 8) * H + VOCAB * H + H   # embed (+8 image rows), lm_head, norm
VISION_LAYER = 4 * VH * VH + (VH * VINTER + VINTER) + (VINTER * VH + VH) + 4 * VH   # q/k/v/o, fc1, fc2, 2 LayerNorms
VISION = (3 * 14 * 14 * VH                                             # patch embedding (no bias)
          + VH                                                         # class embedding
          + 1 + PATCHES * VH + 9 * TILES * PATCHES * VH                # gated position + tile tables (8 ratios + 1)
          + 2 * (9 * TILES * VH + 1)                                   # pre/post tile embeddings and gates
          + 2 * 2 * VH                                                 # layernorm_pre / post
          + 32 * VISION_LAYER + 8 * (VISION_LAYER + 2))                # local, gated global layers
PROJECTOR = 7680 * H + H


def test_the_module_sums_give_the_published_count():
    f = mllama()
    assert f.encoder.parameters == VISION + PROJECTOR
    assert f.parameters - f.encoder.parameters == TEXT
    assert f.parameters == 10_670_220_835 and not f.warnings
    assert f.encoder.kind == "mllama" and f.encoder.num_layers == 40 and f.encoder.cross_attention


def test_cross_attention_layers_hold_kv_and_their_own_norms_and_gates():
    f = mllama()
    assert f.num_layers == 40 and all(layer.kv_heads == KV and layer.head_size == HD for layer in f.layers)
    sizes = {layer.index: layer.parameters for layer in f.layers}
    assert all(sizes[i] == CROSS_LAYER for i in CROSS)
    assert sizes[1] == SELF_LAYER and sizes[0] == SELF_LAYER + 8 * H      # the 8 extra embedding rows
    bad = dict(LLAMA_32_11B_VISION, text_config=LLAMA_32_11B_VISION["text_config"] | {"cross_attention_layers": [40]})
    with pytest.raises(FactsError) as err:
        mllama(bad)
    assert err.value.key == "cross_attention_layers"


def test_the_tower_split_over_tp():
    f = mllama()
    enc = f.encoder
    # On every rank: class token, position/tile tables and gates, LayerNorms, fc2 biases.
    replicated = (VH + 1 + PATCHES * VH + 9 * TILES * PATCHES * VH + 2 * (9 * TILES * VH + 1) + 4 * VH
                  + 40 * (VH + 4 * VH) + 8 * 2)
    assert enc.replicated_bytes == 2 * replicated
    assert enc.sharded_bytes == 2 * (VISION + PROJECTOR - replicated)
    assert weights.encoder_rank_bytes(f, 2) == enc.replicated_bytes + enc.sharded_bytes // 2


def _request(version: str, **kw) -> PlanRequest:
    return PlanRequest(vllm_version=version, model=mllama(), gpu=gpu("H100-80GB"), gpu_count=1, mode="predict",
                       max_model_len=8192, max_num_seqs=16, **kw)


def test_served_on_v0_from_0_6_2_to_0_10_2_and_refused_after():
    p = plan_deployment(_request("0.10.2"))
    assert p.verdict == "ok"
    gone = plan_deployment(_request("0.11.0"))
    assert gone.verdict == "invalid" and gone.failure_key == "engine.version"
    # vLLM 0.11.0 - 0.33.0 registry.py: _PREVIOUSLY_SUPPORTED_MODELS {"MllamaForConditionalGeneration": "0.10.2"}.
    assert ("Model architecture MllamaForConditionalGeneration was supported in vLLM until v0.10.2, and is not "
            "supported anymore") in gone.reasons[0]
    assert "removed in vLLM 0.11.0" in gone.reasons[0]
    assert {"engine.version": "0.10.2"} in [dict(f.settings) for f in gone.fixes]
    assert plan_deployment(_request("0.33.0")).verdict == "invalid"
    assert plan_deployment(_request("0.6.6.post1")).verdict == "ok"


def test_each_request_also_holds_the_image_tokens_of_its_cross_attention():
    p = plan_deployment(_request("0.10.2"))
    # V0 (vLLM falls back to it for mllama even on 0.10.2): one block spans all 40 layers, the
    # cross-attention layers included; "GPU KV cache size" is blocks x 16. A request holds its
    # decoder blocks and a cross block table for one image of 4 tiles x 1601 tokens.
    assert p.per_gpu.kv_bytes_per_token == 40 * 2 * KV * HD * 2
    assert p.max_concurrency == pytest.approx(p.num_gpu_blocks / (cdiv(8192, 16) + cdiv(TILES * PATCHES, 16)),
                                              abs=0.01)
    text_only = plan_deployment(dataclasses.replace(_request("0.10.2"), mm_limits=(("image", 0),)))
    assert text_only.max_concurrency == pytest.approx(text_only.num_gpu_blocks * 16 / 8192, abs=0.01)


def test_v1_releases_fall_back_to_v0_for_it():
    from vllm_compile.plan.releases import rules_for, rules_for_model
    assert rules_for("0.10.2").engine == "v1"
    rules = rules_for_model("0.10.2", "MllamaForConditionalGeneration")
    assert (rules.engine, rules.era) == ("v0", "v0")


@pytest.mark.parametrize("version", ["0.6.6.post1", "0.8.5", "0.10.2"])
def test_what_the_v0_encoder_decoder_runner_refuses_is_invalid(version):
    # vllm/worker/utils.py assert_enc_dec_mr_supported_scenario: LoRA, pipeline parallelism and
    # speculative decoding stop an encoder-decoder start-up with NotImplementedError.
    from vllm_compile.ir.facts import SpeculativeFacts

    lora = plan_deployment(_request(version, max_loras=1))
    assert lora.verdict == "invalid" and lora.failure_key == "engine.extra_args"
    assert lora.reasons[0].startswith("LoRA is not currently supported with encoder/decoder models.")
    piped = plan_deployment(dataclasses.replace(_request(version, pipeline_parallel_size=2, tensor_parallel_size=1),
                                                gpu_count=2))
    assert piped.verdict == "invalid" and piped.failure_key == "engine.pipeline_parallel_size"
    assert piped.reasons[0].startswith("Pipeline parallelism is not currently supported with encoder/decoder models.")
    # The same two GPUs as one tensor-parallel group start: the fix is checked by planning it.
    assert [dict(f.settings) for f in piped.fixes] == [{"engine.pipeline_parallel_size": 1,
                                                        "engine.tensor_parallel_size": 2}]
    drafted = plan_deployment(_request(version, speculative=SpeculativeFacts(method="ngram", num_speculative_tokens=3)))
    assert drafted.verdict == "invalid"
    assert drafted.reasons[0].startswith("Speculative decoding is not currently supported with encoder/decoder models.")
    assert plan_deployment(dataclasses.replace(_request(version, tensor_parallel_size=2), gpu_count=2)).verdict == "ok"


def test_the_pipeline_fix_compiles_once_applied(tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    from vllm_compile.cli import cli

    (tmp_path / "mllama").mkdir()
    (tmp_path / "mllama" / "config.json").write_text(json.dumps(LLAMA_32_11B_VISION))
    spec = tmp_path / "s.yaml"
    spec.write_text("version: 1\nname: vision\nmodel:\n  path: ./mllama\nhardware:\n  gpu: H100-80GB\n  count: 2\n"
                    "workload:\n  max_model_len: 8192\nengine:\n  version: \"0.10.2\"\n  tensor_parallel_size: 1\n"
                    "  pipeline_parallel_size: 2\n")
    monkeypatch.chdir(tmp_path)
    refused = CliRunner().invoke(cli, ["compile", str(spec)])
    assert refused.exit_code == 2 and "s.yaml:13:" in refused.stderr, refused.output
    assert ("engine.pipeline_parallel_size: vLLM would refuse this configuration: Pipeline parallelism is not "
            "currently supported with encoder/decoder models.") in refused.stderr
    applied = CliRunner().invoke(cli, ["fix", str(spec), "--apply", "1"])
    assert applied.exit_code == 0, applied.output
    assert "pipeline_parallel_size: 1" in spec.read_text() and "tensor_parallel_size: 2" in spec.read_text()
    assert CliRunner().invoke(cli, ["compile", str(spec)]).exit_code == 0


def test_releases_before_0_6_4_keep_the_projector_whole_on_every_rank():
    # vLLM's mllama.py (read in the wheels): multi_modal_projector is an nn.Linear in 0.6.2 - 0.6.3.post1
    # and a ColumnParallelLinear (gather_output=True) from 0.6.4; the rest of the split is the same.
    f = mllama()
    assert f.encoder.projector_bytes == 2 * PROJECTOR

    def rank_bytes(version: str) -> int:
        p = plan_deployment(dataclasses.replace(_request(version), gpu_count=2, tensor_parallel_size=2))
        return p.per_gpu.encoder_weights_bytes

    enc = f.encoder
    split = enc.replicated_bytes + cdiv(enc.sharded_bytes, 2)
    whole = enc.replicated_bytes + 2 * PROJECTOR + cdiv(enc.sharded_bytes - 2 * PROJECTOR, 2)
    assert rank_bytes("0.6.4") == rank_bytes("0.10.2") == split
    assert rank_bytes("0.6.2") == rank_bytes("0.6.3.post1") == whole


def test_vllm_use_v1_set_on_a_v1_default_release_is_refused_by_name():
    # EngineArgs._is_v1_supported_oracle: a model that is not V1-compatible falls back to V0, or,
    # with VLLM_USE_V1=1 set, raises "VLLM_USE_V1=1 is not supported with [architectures]".
    for version in ("0.8.5", "0.10.2"):
        forced = plan_deployment(_request(version, use_v1=True))
        assert forced.verdict == "invalid" and forced.failure_key == "engine.version"
        assert forced.reasons[0].startswith("VLLM_USE_V1=1 is not supported with ['MllamaForConditionalGeneration'].")
        assert plan_deployment(_request(version, use_v1=False)).verdict == "ok"
        assert plan_deployment(_request(version)).verdict == "ok"
