"""Facts from the real configs bundled under vllm_compile/data/model-configs, against published
figures (bench/data/model-configs) and hand-derived formulas (reference doc §2.11 for KV bytes
per token)."""
from __future__ import annotations

import csv
import hashlib
import json
import re

import pytest
from models_support import CATALOG, PUBLISHED, load

from vllm_compile.resolve.models import facts_from_config
from vllm_compile.resolve.models.catalog import modelling_gap

GiB = 2**30
CATALOG_IDS = sorted(str(p.parent.relative_to(CATALOG)) for p in CATALOG.glob("*/*/config.json"))


def facts(model_id: str, **kw):
    quant_file = CATALOG / model_id / "hf_quant_config.json"
    quant = json.loads(quant_file.read_text()) if quant_file.exists() else None
    return facts_from_config(load(model_id), model_id=model_id, source="catalog", quant_config=quant, **kw)


def kv_per_token(f) -> int:
    return sum(l.kv_heads * (l.head_size + l.head_size_v) * 2 for l in f.layers)


def test_catalog_holds_every_config_as_collected_with_its_source():
    # SHA256SUMS was computed over the collected files themselves, not over the bundled copies.
    recorded = dict(reversed(line.split("  ", 1)) for line in (PUBLISHED / "SHA256SUMS").read_text().splitlines())
    bundled = {str(p.relative_to(CATALOG)): hashlib.sha256(p.read_bytes()).hexdigest()
               for model_id in CATALOG_IDS for p in (CATALOG / model_id).iterdir()}
    assert CATALOG_IDS and bundled == recorded
    sources = (PUBLISHED / "SOURCES.md").read_text()
    assert not [m for m in CATALOG_IDS if f"| {m} |" not in sources], "a bundled config without its source row"


@pytest.mark.parametrize("model_id", CATALOG_IDS)
def test_every_bundled_config_gives_sane_facts(model_id):
    raw = load(model_id)
    text = raw.get("text_config") or raw.get("llm_config") or raw   # InternVL keeps its LLM in llm_config
    f = facts(model_id)
    if modelling_gap(raw) is not None:
        # Listed as "not modelled" by `vllm-compile models`; read only with a warning that says so.
        assert any("not a known family" in w or "Mamba" in w for w in f.warnings), model_id
        return
    assert f.num_layers == text["num_hidden_layers"] == len(f.layers)
    assert f.hidden_size == text["hidden_size"] and f.vocab_size == text["vocab_size"]
    assert f.num_attention_heads == text["num_attention_heads"]
    assert sum(f.attention_kinds().values()) == f.num_layers
    assert [l.index for l in f.layers] == list(range(f.num_layers))
    encoder = f.encoder
    assert f.parameters == sum(l.parameters for l in f.layers) + f.vocab_size * f.hidden_size * (
        1 if f.tie_word_embeddings else 2) + f.hidden_size + (encoder.parameters if encoder else 0)
    assert f.weight_bytes == sum(l.sharded_bytes + l.replicated_bytes + l.expert_bytes for l in f.layers) \
        + f.vocab_size * f.embedding_bytes_per_row + (0 if f.tie_word_embeddings else
                                                      f.vocab_size * f.lm_head_bytes_per_row) + f.final_norm_bytes \
        + (encoder.sharded_bytes + encoder.replicated_bytes if encoder else 0)
    # 16-bit weights cannot be more than 2 bytes/param (plus the few fp32 routing-bias buffers vLLM
    # keeps, e.g. Nemotron-3's e_score_correction_bias), 4-bit ones not less than 0.5.
    assert f.parameters * 0.5 < f.weight_bytes <= f.parameters * 2 * 1.0001
    assert f.max_position_embeddings >= 2048
    for layer in f.layers:
        if layer.attention == "mamba":   # a recurrent layer: a constant state per sequence, no KV
            assert layer.kv_heads == 0 and layer.conv_state > 0 and layer.ssm_state > 0 and layer.state_bytes > 0
            continue
        if layer.attention == "none":    # a Nemotron-H MLP or expert block: no mixer, no cache
            assert layer.kv_heads == 0 and layer.state_bytes == 0 and layer.sharded_bytes + layer.expert_bytes > 0
            continue
        assert layer.kv_heads >= 1 and layer.head_size >= 64
        assert (layer.window is not None) == (layer.attention in ("sliding", "chunked"))
        assert (layer.expert_bytes > 0) == layer.is_moe
    if f.moe is None:
        assert not any(l.is_moe for l in f.layers)


def _published_rows():
    rows = []
    with open(PUBLISHED / "sizes.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["params_published"].isdigit() or row["total_size_bytes"].isdigit():
                rows.append(row)
    return rows


# SOURCES.md: the context-labs FP16 repo's config is an identical copy of the Meta one.
ALIAS = {"context-labs/meta-llama-Llama-3.2-3B-Instruct-FP16": "meta-llama/Llama-3.2-3B-Instruct"}


def _breakdown(source: str) -> dict[str, int]:
    hit = re.search(r"dtype breakdown (\{[^}]*\})", source.replace('""', '"'))
    return json.loads(hit.group(1)) if hit else {}


def pixtral_parameters(config: dict) -> int:
    """Pixtral vision encoder + Mistral 3 projector, from the shapes of transformers' modules:
    patch conv (no bias), ln_pre, per layer q/k/v/o + gated MLP + two RMSNorms, then the projector's
    norm, patch merger (merge² × hidden -> hidden) and two linears into the text model's width."""
    v, text_hidden = config["vision_config"], config["text_config"]["hidden_size"]
    h, inter, merge = v["hidden_size"], v["intermediate_size"], config["spatial_merge_size"]
    assert config["multimodal_projector_bias"] is False
    encoder = (v["num_channels"] * v["patch_size"] ** 2 * h + h
               + v["num_hidden_layers"] * (4 * h * h + 3 * h * inter + 2 * h))
    projector = h + merge * merge * h * h + h * text_hidden + text_hidden * text_hidden
    return encoder + projector


def test_exact_parameter_counts_match_sizes_csv():
    checked = 0
    for row in _published_rows():
        model_id = ALIAS.get(row["model"], row["model"])
        if not (CATALOG / model_id / "config.json").exists():
            continue
        f = facts(model_id)
        config = load(model_id)
        published = int(row["params_published"]) if row["params_published"] else None
        split = _breakdown(row["source"])
        if row["total_size_bytes"]:
            # gemma-2b-it: index total_size of a bf16 checkpoint = 2 bytes per parameter.
            assert config["torch_dtype"] == "bfloat16"
            assert f.parameters * 2 == int(row["total_size_bytes"])
        elif "U8" in split:
            # gpt-oss: HF counts the packed MXFP4 expert blocks as 2 values per byte plus one
            # e8m0 scale per 32 values, so U8 = expert weights × 33/32; BF16 is the rest.
            experts = (config["num_hidden_layers"] * config["num_local_experts"] * 3
                       * config["hidden_size"] * config["intermediate_size"])
            assert split["U8"] == experts * 33 // 32
            assert split["BF16"] == f.parameters - experts
            assert published == split["U8"] + split["BF16"]
        elif "F32" in split:
            # Llama-2-7b-hf: the F32 entries are the saved rotary inv_freq buffers
            # (head_dim/2 per layer), not parameters.
            head_dim = config["hidden_size"] // config["num_attention_heads"]
            assert split["F32"] == config["num_hidden_layers"] * head_dim // 2
            assert f.parameters == split["F16"] == published - split["F32"]
        elif f.multimodal and config.get("vision_config", {}).get("model_type") == "pixtral":
            # Magistral-Small-2509: HF counts the Pixtral vision encoder and the projector too,
            # and so does the planner now (vision.py's mistral3 row).
            assert f.encoder.parameters == pixtral_parameters(config)
            assert f.parameters == published
        elif model_id == "Qwen/Qwen3-0.6B":
            # Tied embeddings, but the checkpoint also stores lm_head.weight (vocab × hidden),
            # which HF counts; vLLM ties it and skips the copy.
            assert config["tie_word_embeddings"] is True
            assert f.parameters + config["vocab_size"] * config["hidden_size"] == published
        else:
            assert f.parameters == published, model_id
        checked += 1
    assert checked >= 14


@pytest.mark.parametrize("model_id, layers, kv, head, expected", [
    ("meta-llama/Llama-3.1-8B-Instruct", 32, 8, 128, 131_072),
    ("meta-llama/Llama-3.1-70B-Instruct", 80, 8, 128, 327_680),
    ("Qwen/Qwen3-0.6B", 28, 8, 128, 114_688),
    ("deepseek-ai/DeepSeek-V3", 61, 1, 576, 70_272),
    ("moonshotai/Kimi-K2-Instruct", 61, 1, 576, 70_272),
    ("openai/gpt-oss-20b", 24, 8, 64, 49_152),
])
def test_kv_bytes_per_token_match_reference_table(model_id, layers, kv, head, expected):
    f = facts(model_id)
    assert (f.num_layers, f.num_kv_heads, f.head_dim) == (layers, kv, head)
    assert kv_per_token(f) == expected


def test_llama3_family():
    f = facts("meta-llama/Llama-3.1-8B-Instruct")
    assert f.max_position_embeddings == 131072          # llama3 rope type does not multiply
    assert not f.tie_word_embeddings and f.attention_kinds() == {"full": 32}
    assert facts("meta-llama/Llama-3.2-1B-Instruct").tie_word_embeddings
    assert facts("meta-llama/Meta-Llama-3-8B").max_position_embeddings == 8192
    two = facts("meta-llama/Llama-2-70b-hf")
    assert (two.num_kv_heads, two.max_position_embeddings, two.dtype) == (8, 4096, "float16")
    yi = facts("01-ai/Yi-1.5-34B")
    assert (yi.num_layers, yi.num_kv_heads, yi.head_dim) == (60, 8, 7168 // 56)


def test_qwen_families():
    q = facts("Qwen/Qwen3-0.6B")
    assert q.head_dim == 128 != q.hidden_size // q.num_attention_heads   # explicit head_dim wins
    layer = q.layers[0]
    hd, h = 128, 1024
    # q/k/v/o without bias + q_norm/k_norm + two layer norms + gated MLP of 3072
    assert layer.parameters == 16 * hd * h + 2 * 8 * hd * h + h * 16 * hd + 2 * hd + 2 * h + 3 * 3072 * h
    q25 = facts("Qwen/Qwen2.5-7B-Instruct")
    # Qwen2 always has q/k/v biases (sharded with their heads) and none on o_proj.
    assert q25.layers[0].replicated_bytes == 2 * 3584 * 2
    distill = facts("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B")
    assert distill.attention_kinds() == {"full": 28}    # sliding_window given, use_sliding_window false
    moe = facts("Qwen/Qwen3-30B-A3B")
    assert (moe.moe.num_experts, moe.moe.experts_per_token, moe.moe.expert_intermediate_size) == (128, 8, 768)
    assert moe.moe.moe_layer_count == 48 and moe.moe.shared_expert_intermediate_size == 0
    assert moe.layers[0].expert_bytes == 128 * 3 * 768 * 2048 * 2
    cfg = load("Qwen/Qwen3-30B-A3B") | {"mlp_only_layers": [0, 1]}
    dense_first = facts_from_config(cfg, model_id="x/y", source="test")
    assert dense_first.moe.first_dense_layers == 2 and dense_first.moe.moe_layer_count == 46
    assert not dense_first.layers[1].is_moe and dense_first.layers[1].sharded_bytes > moe.layers[1].sharded_bytes
    sparse = facts_from_config(load("Qwen/Qwen3-30B-A3B") | {"decoder_sparse_step": 2}, model_id="x/y", source="t")
    assert [l.is_moe for l in sparse.layers[:4]] == [False, True, False, True]


def test_deepseek_v3_mla_moe_fp8():
    f = facts("deepseek-ai/DeepSeek-V3")
    assert f.mla.kv_lora_rank == 512 and f.mla.qk_rope_head_dim == 64
    assert all(l.attention == "mla" and l.head_size == 576 and l.head_size_v == 0 for l in f.layers)
    assert f.moe.first_dense_layers == 3 and f.moe.moe_layer_count == 58 and f.moe.num_experts == 256
    assert f.moe.shared_expert_intermediate_size == 2048
    assert f.max_position_embeddings == 4096 * 40      # yarn: original length × factor
    assert f.quantization.method == "fp8" and f.quantization.weight_block_size == (128, 128)
    # 671B without the MTP layer (published: "671B total", 685B with the 14B MTP module).
    assert round(f.parameters / 1e9) == 671

    def fp8(rows, cols):  # 1 byte per weight + fp32 scale per 128×128 block
        return rows * cols + -(-rows // 128) * -(-cols // 128) * 4
    h = 7168
    replicated = (fp8(1536, h) + fp8(576, h)            # q_a_proj, kv_a_proj_with_mqa (replicated linears)
                  + (1536 + 512 + 2 * h) * 2            # q_a/kv_a norms + two layer norms
                  + 256 * h * 2 + 256 * 4)              # router (16-bit) + fp32 correction bias
    moe_layer = f.layers[3]
    assert moe_layer.is_moe and moe_layer.replicated_bytes == replicated
    assert moe_layer.expert_bytes == 256 * (2 * fp8(2048, h) + fp8(h, 2048))
    sharded = fp8(128 * 192, 1536) + fp8(128 * 256, 512) + fp8(h, 128 * 128) + 2 * fp8(2048, h) + fp8(h, 2048)
    assert moe_layer.sharded_bytes == sharded
    assert f.layers[0].sharded_bytes == sharded - (2 * fp8(2048, h) + fp8(h, 2048)) + 2 * fp8(18432, h) + fp8(h, 18432)
    kimi = facts("moonshotai/Kimi-K2-Instruct")
    assert kimi.moe.num_experts == 384 and kimi.moe.first_dense_layers == 1
    assert kimi.max_position_embeddings == 131072 and kimi.model_type == "kimi_k2"


def test_gpt_oss_sliding_mxfp4_sinks_and_measured_weights():
    f = facts("openai/gpt-oss-20b")
    assert [l.attention for l in f.layers[:4]] == ["sliding", "full", "sliding", "full"]
    assert f.layers[0].window == 128 and f.layers[1].window is None
    h, e, i, heads, kv, hd = 2880, 32, 2880, 64, 8, 64
    layer = f.layers[0]
    # Attention stays bf16 (excluded from MXFP4); q/k/v biases shard with the heads.
    assert layer.sharded_bytes == 2 * (2 * heads * hd * h + 2 * kv * hd * h + heads * hd + 2 * kv * hd)
    # o_proj bias, sinks, two norms, router weight + bias: on every rank, bf16.
    assert layer.replicated_bytes == 2 * (h + heads + 2 * h + e * h + e)
    # Experts: e2m1 nibbles + one e8m0 scale per 32 inputs, biases bf16.
    assert layer.expert_bytes == e * (3 * h * i // 2 + (2 * i * h + h * i) // 32) + e * (2 * i + h) * 2
    # Reference: "Model loading took" 13.47 GiB (20b) and 64.38 GiB (120b); the checkpoint
    # layout leaves out backend padding/swizzle buffers, so it lands a few % below.
    assert 0.94 < f.weight_bytes / (13.47 * GiB) < 1.0
    big = facts("openai/gpt-oss-120b")
    assert 0.94 < big.weight_bytes / (64.38 * GiB) < 1.0
    assert big.max_position_embeddings == 131072 and big.moe.num_experts == 128


def test_llama4_chunked_attention_and_interleaved_moe():
    scout = facts("meta-llama/Llama-4-Scout-17B-16E-Instruct")
    assert scout.multimodal and scout.model_type == "llama4_text"
    assert scout.attention_kinds() == {"chunked": 36, "full": 12}
    assert [l.index for l in scout.layers if l.attention == "full"] == list(range(3, 48, 4))
    assert scout.layers[0].window == 8192
    assert scout.max_position_embeddings == 10485760   # llama3 rope: not multiplied
    assert scout.moe.moe_layer_count == 48 and scout.moe.shared_expert_intermediate_size == 8192
    maverick = facts("meta-llama/Llama-4-Maverick-17B-128E-Instruct")
    assert [l.is_moe for l in maverick.layers[:4]] == [False, True, False, True]
    assert maverick.moe.first_dense_layers == 1 and maverick.moe.num_experts == 128
    # Dense layers use intermediate_size_mlp (16384), MoE layers a shared expert of 8192.
    h = 5120
    assert maverick.layers[0].sharded_bytes - maverick.layers[1].sharded_bytes == 3 * (16384 - 8192) * h * 2


def test_gemma_phi_mistral_mixtral_granite():
    g2 = facts("google/gemma-2-9b-it")
    assert g2.tie_word_embeddings and g2.head_dim == 256
    assert [l.attention for l in g2.layers[:2]] == ["sliding", "full"] and g2.layers[0].window == 4096
    assert g2.layers[0].replicated_bytes == 4 * 3584 * 2          # four norms per Gemma 2 layer
    g1 = facts("google/gemma-2b-it")
    assert g1.tie_word_embeddings and g1.num_kv_heads == 1
    phi = facts("microsoft/Phi-3-mini-4k-instruct")
    assert phi.head_dim == 96 and phi.attention_kinds() == {"sliding": 32} and phi.layers[0].window == 2047
    assert phi.parameters == 3_821_079_552   # Microsoft's model card: 3.8B; fused qkv/gate_up counted once
    assert facts("microsoft/phi-4").attention_kinds() == {"full": 40}
    mistral = facts("mistralai/Mistral-7B-Instruct-v0.3")
    assert mistral.attention_kinds() == {"full": 32} and mistral.vocab_size == 32768
    mixtral = facts("mistralai/Mixtral-8x7B-Instruct-v0.1")
    assert (mixtral.moe.num_experts, mixtral.moe.experts_per_token, mixtral.moe.expert_intermediate_size) == (8, 2, 14336)
    assert mixtral.layers[0].expert_bytes == 8 * 3 * 14336 * 4096 * 2
    granite = facts("ibm-granite/granite-3.1-8b-instruct")
    assert granite.dtype == "float32" and granite.tie_word_embeddings
    assert granite.weight_bytes == granite.parameters * 2       # fp32 checkpoint loads as 16-bit


def test_gated_flag_from_catalog():
    from vllm_compile.resolve.models.sources import is_gated
    assert is_gated("meta-llama/Llama-3.1-8B-Instruct") and is_gated("google/gemma-2-9b-it")
    assert not is_gated("Qwen/Qwen3-8B") and not is_gated("openai/gpt-oss-20b")


def test_a_hybrid_recurrent_model_is_read_with_a_warning_that_says_what_is_missing():
    # Zamba2 (Mamba2 layers with a shared attention block) is not a family of the table.
    config = {"architectures": ["Zamba2ForCausalLM"], "model_type": "zamba2", "hidden_size": 2048,
              "num_hidden_layers": 48, "num_attention_heads": 16, "num_key_value_heads": 2, "head_dim": 256,
              "intermediate_size": 5120, "vocab_size": 151936, "max_position_embeddings": 262144,
              "mamba_d_state": 256, "mamba_n_heads": 32, "torch_dtype": "bfloat16"}
    facts = facts_from_config(config, model_id="t/h1", source="t")
    assert any("linear-attention or Mamba layers" in w and "rough bound" in w for w in facts.warnings)
    plain = facts_from_config({k: v for k, v in config.items() if k not in ("mamba_d_state", "mamba_n_heads")},
                              model_id="t/h1", source="t")
    assert any("not a known family" in w for w in plain.warnings)


def test_families_are_rows_of_one_table_and_build_never_branches_on_a_family_name():
    import inspect

    from vllm_compile.resolve.models import families
    assert not hasattr(families, "LLAMA_LIKE")
    import re

    source = inspect.getsource(families.build) + inspect.getsource(families._attention_kinds)
    # A layer's kind may share its spelling with a family ("mamba"): comparisons of a layer kind
    # are not branches on a family.
    source = re.sub(r'\bkind (?:==|!=) "\w+"|\bkind (?:not )?in \([^)]*\)', "", source)
    assert "kind ==" not in source and '"mamba"' not in source
    for name in families.FAMILIES:
        assert f'"{name}"' not in source, name
    for name, row in families.FAMILIES.items():
        assert row.attention in families.ATTENTION_RULES and row.moe in families.MOE_RULES, name


def test_multimodal_language_parts_take_their_text_family():
    # Qwen2.5-VL keeps its Qwen2 decoder at the top level: q/k/v biases, no o_proj bias.
    config = {"architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl",
              "hidden_size": 3584, "intermediate_size": 18944, "num_attention_heads": 28, "num_hidden_layers": 28,
              "num_key_value_heads": 4, "vocab_size": 152064, "max_position_embeddings": 128000,
              "torch_dtype": "bfloat16"}
    f = facts_from_config(config, model_id="t/vl", source="t")
    assert not any("not a known family" in w for w in f.warnings)
    assert f.layers[0].replicated_bytes == 2 * 3584 * 2 and f.layers[0].parameters == (
        3584 * 3584 * 2 + 2 * 512 * 3584 + 3584 + 2 * 512 + 3 * 18944 * 3584 + 2 * 3584)
    # Gemma 3 text: four norms and per-head q/k norms; five sliding layers per global one.
    gemma = {"model_type": "gemma3_text", "hidden_size": 2560, "intermediate_size": 10240, "num_attention_heads": 8,
             "num_key_value_heads": 4, "head_dim": 256, "num_hidden_layers": 12, "vocab_size": 262208,
             "sliding_window": 1024, "max_position_embeddings": 131072}
    g = facts_from_config(gemma, model_id="t/g3", source="t")
    assert g.tie_word_embeddings and [l.attention for l in g.layers[:6]] == ["sliding"] * 5 + ["full"]
    assert g.layers[0].replicated_bytes == (4 * 2560 + 2 * 256) * 2
