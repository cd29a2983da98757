"""Pure state-space models (issue 15, part 2): Mamba, Mamba2 (Codestral Mamba), FalconMamba.

No layer attends: each layer is one RMSNorm and a Mamba mixer, the model keeps a fixed state per
running sequence and no per-token KV cache. vLLM's V1 engine then makes the Mamba block
max_model_len tokens long, so "GPU KV cache size" is state slots x max_model_len and the
maximum concurrency is the number of state slots; max_num_seqs is the lever when they run short.

The real config.json files were not found in public copies; the configs below are written from
the published model cards / the Hugging Face config classes' keys (state-spaces/mamba-2.8b-hf,
mistralai/Mamba-Codestral-7B-v0.1, tiiuae/falcon-mamba-7b). Every expected number is computed
here from those shapes, not read from the planner."""
from __future__ import annotations

import dataclasses

from plan_support import cdiv, facts, gpu

from vllm_compile.commands._ledger import explain_text, ledger_text
from vllm_compile.commands.inspect import render_text, report
from vllm_compile.ir.plan import PlanRequest
from vllm_compile.plan import kv, plan_deployment, valid_tensor_parallel, weights
from vllm_compile.plan.releases import rules_for_model
from vllm_compile.resolve.models import facts_from_config

MAMBA_28B = {
    "architectures": ["MambaForCausalLM"], "model_type": "mamba", "hidden_size": 2560, "intermediate_size": 5120,
    "num_hidden_layers": 64, "state_size": 16, "conv_kernel": 4, "expand": 2, "time_step_rank": 160,
    "use_bias": False, "use_conv_bias": True, "vocab_size": 50280, "torch_dtype": "float32",
}
CODESTRAL = {
    "architectures": ["Mamba2ForCausalLM"], "model_type": "mamba2", "hidden_size": 4096, "num_hidden_layers": 64,
    "num_heads": 128, "head_dim": 64, "n_groups": 8, "state_size": 128, "expand": 2, "conv_kernel": 4,
    "chunk_size": 256, "use_bias": False, "use_conv_bias": True, "rms_norm": True, "vocab_size": 32768,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16",
}
# falcon-mamba-7b states expand 16 beside intermediate_size 8192; the model (HF and vLLM alike) is
# built from intermediate_size.
FALCON_MAMBA = {
    "architectures": ["FalconMambaForCausalLM"], "model_type": "falcon_mamba", "hidden_size": 4096,
    "intermediate_size": 8192, "expand": 16, "num_hidden_layers": 64, "state_size": 16, "conv_kernel": 4,
    "time_step_rank": 256, "use_bias": False, "use_conv_bias": True, "vocab_size": 65024,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16",
}


def hand(config: dict, name: str):
    return facts_from_config(config, model_id=f"t/{name}", source="spec")


def mamba1_layer(hidden: int, inner: int, state: int, kernel: int, rank: int, dt_norms: bool = False) -> int:
    """One Mamba1 block: norm, in_proj (x and gate), conv weight + bias, x_proj (dt, B, C),
    dt_proj weight + bias, A (inner x state), D, out_proj; Jamba-style dt/B/C norm weights."""
    return (hidden + 2 * inner * hidden + inner * kernel + inner + (rank + 2 * state) * inner + inner * rank + inner
            + inner * state + inner + hidden * inner + ((rank + 2 * state) if dt_norms else 0))


def mamba2_layer(hidden: int, heads: int, head_dim: int, groups: int, state: int, kernel: int) -> int:
    """One Mamba2 block: norm, in_proj (gate, x, B, C, dt), conv over x/B/C with bias, A, D,
    dt_bias, the gated norm over the inner width, out_proj."""
    inner = heads * head_dim
    conv = inner + 2 * groups * state
    return (hidden + (2 * inner + 2 * groups * state + heads) * hidden + conv * kernel + conv + 3 * heads + inner
            + hidden * inner)


def test_counts_match_the_published_sizes():
    # state-spaces/mamba-2.8b-hf: 2.77B with the lm_head tied to the embeddings (MambaConfig's default).
    mamba = hand(MAMBA_28B, "mamba")
    per_layer = mamba1_layer(2560, 5120, 16, 4, 160)
    assert mamba.parameters == 64 * per_layer + 50280 * 2560 + 2560
    assert mamba.tie_word_embeddings and round(mamba.parameters / 1e7) == 277
    # Codestral Mamba 7B: 7.29B, untied lm_head.
    codestral = hand(CODESTRAL, "codestral")
    per_layer = mamba2_layer(4096, 128, 64, 8, 128, 4)
    assert codestral.parameters == 64 * per_layer + 2 * 32768 * 4096 + 4096
    assert round(codestral.parameters / 1e7) == 729
    # falcon-mamba-7b: 7.27B; its dt/B/C norms hold no weights, and expand 16 is not the width.
    falcon = hand(FALCON_MAMBA, "falcon")
    assert falcon.parameters == 64 * mamba1_layer(4096, 8192, 16, 4, 256) + 2 * 65024 * 4096 + 4096
    assert round(falcon.parameters / 1e7) == 727
    # The same layers with Jamba's weighted norms would be larger: FalconMamba's carry none.
    assert mamba1_layer(4096, 8192, 16, 4, 256, dt_norms=True) > falcon.layers[0].parameters


def test_no_layer_attends_and_nothing_is_split_by_attention_heads():
    for config, name in ((MAMBA_28B, "mamba"), (CODESTRAL, "codestral"), (FALCON_MAMBA, "falcon")):
        f = hand(config, name)
        assert (f.num_attention_heads, f.num_kv_heads, f.head_dim) == (0, 0, 0), name
        assert f.attention_kinds() == {"mamba": 64} and f.recurrent_layers() == 64
        assert kv.attention_free(list(f.layers))
        # Per layer: only the norm is replicated; the mixer is split over the TP ranks.
        layer = f.layers[0]
        assert layer.replicated_bytes == config["hidden_size"] * 2
        assert layer.sharded_bytes == (layer.parameters - config["hidden_size"]) * 2
    # Codestral's 8 groups: TP 8 splits heads and groups; TP 16 is refused by vLLM's MambaMixer2.
    codestral = hand(CODESTRAL, "codestral")
    assert valid_tensor_parallel(codestral, 8) and not valid_tensor_parallel(codestral, 16)
    # Mamba1 splits its 5120 intermediate channels: TP 3 does not divide them, TP 4 does.
    mamba = hand(MAMBA_28B, "mamba")
    assert valid_tensor_parallel(mamba, 4) and not valid_tensor_parallel(mamba, 3)
    refused = plan_deployment(request(MAMBA_28B, "mamba", count=3, tensor_parallel_size=3))
    assert refused.verdict == "invalid" and "5120 is not divisible by 3" in refused.reasons[0]
    # A hybrid keeps its attention: not attention-free.
    nemotron = list(facts_from_config({**CODESTRAL, "model_type": "nemotron_h", "architectures": ["NemotronHForCausalLM"],
                                       "num_hidden_layers": 2, "hybrid_override_pattern": "M*",
                                       "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 8,
                                       "mamba_num_heads": 128, "mamba_head_dim": 64, "ssm_state_size": 128},
                                      model_id="t/n", source="spec").layers)
    assert not kv.attention_free(nemotron)


# state-spaces/mamba2-2.7b's shapes (one B/C group), as transformers' Mamba2 docs print them.
MAMBA2_27B = {**CODESTRAL, "hidden_size": 2560, "num_heads": 80, "n_groups": 1, "vocab_size": 50288,
              "tie_word_embeddings": True}


def test_a_single_group_is_held_whole_by_every_rank():
    # vLLM replicates the one B/C group up to the TP size: each rank keeps its in_proj B and C
    # rows, conv channels and conv bias whole, and splits the rest.
    f = hand(MAMBA2_27B, "mamba2-2.7b")
    hidden, heads, inner, state, kernel = 2560, 80, 80 * 64, 128, 4
    for tp in (1, 2, 4):
        layer = (hidden + (2 * inner // tp + 2 * state + heads // tp) * hidden
                 + (inner // tp + 2 * state) * (kernel + 1) + 3 * heads // tp + inner // tp + hidden * inner // tp)
        vocab_rows = cdiv(cdiv(50288, 64) * 64, tp)   # vLLM pads the vocabulary to a multiple of 64
        expected = 2 * (64 * layer + vocab_rows * hidden + hidden)
        assert weights.rank_weight_bytes(f, tp, 1, 0) == expected, tp
    # Codestral's 8 groups split evenly up to TP 8: nothing is held twice.
    codestral = hand(CODESTRAL, "codestral")
    layer = codestral.layers[0]
    assert (weights.rank_weight_bytes(codestral, 8, 1, 0) - weights.rank_weight_bytes(codestral, 4, 1, 0)
            == 64 * (cdiv(layer.sharded_bytes, 8) - cdiv(layer.sharded_bytes, 4))
            + 2 * 4096 * (cdiv(32768, 8) - cdiv(32768, 4)) * 2)


def test_the_state_of_one_sequence_per_layer_and_rank():
    layer = hand(CODESTRAL, "codestral").layers[0]
    # conv: (kernel - 1) x (inner 8192 + 2 x 8 groups x 128); SSM: 128 heads x 64 x 128; bf16 both.
    conv, ssm = 3 * (8192 + 2 * 8 * 128), 128 * 64 * 128
    assert (layer.conv_state, layer.ssm_state, layer.ssm_state_fp32) == (conv, ssm, False)
    assert kv.state_page_bytes(layer, 1, 2) == (conv + ssm) * 2 == 2_158_592
    assert kv.state_page_bytes(layer, 2, 2) == (conv // 2 + ssm // 2) * 2
    # Mamba1: conv (kernel - 1) x inner, SSM inner x d_state.
    m = hand(MAMBA_28B, "mamba").layers[0]
    assert (m.conv_state, m.ssm_state) == (3 * 5120, 5120 * 16)
    assert kv.state_page_bytes(m, 4, 2) == (3 * 5120 // 4 + 5120 * 16 // 4) * 2


def request(config: dict, name: str, version: str = "0.19.1", gpu_name: str = "L40S", count: int = 1, **kw):
    return PlanRequest(vllm_version=version, model=hand(config, name), gpu=gpu(gpu_name), gpu_count=count,
                       mode="predict", **kw)


def test_the_block_spans_max_model_len_and_the_capacity_counts_state_slots():
    p = plan_deployment(request(CODESTRAL, "codestral", max_model_len=65536, max_num_seqs=64))
    assert p.verdict == "ok" and p.block_size == 65536
    page = (3 * (8192 + 2 * 8 * 128) + 128 * 64 * 128) * 2
    # All 64 layers form one group: a block is a page in every layer.
    slots = p.per_gpu.kv_cache_bytes // (64 * page)
    assert p.num_gpu_blocks == slots and p.max_concurrency == slots
    assert p.kv_cache_tokens == slots * 65536
    # Nothing grows per token; the state does not depend on the context length.
    assert p.per_gpu.kv_bytes_per_token == 0 and p.state_bytes_per_sequence == 64 * page
    short = plan_deployment(request(CODESTRAL, "codestral", max_model_len=4096, max_num_seqs=64))
    assert short.num_gpu_blocks == slots and short.block_size == 4096
    out = p.as_json()["recurrent_state"]
    assert out == {"page_bytes": page, "groups": 1, "blocks_per_sequence": 1, "attention_free": True,
                   "bytes_per_sequence": 64 * page}
    text = ledger_text("codestral", p, "L40S")
    assert "KV bytes/token/GPU" not in text and f"state bytes/seq/GPU   {64 * page:>12,}" in text
    assert f"{slots:,} state slots of 65,536 tokens" in text
    assert "  state cache " in text and "  KV cache " not in text
    assert "K state cache" in explain_text("codestral", p, "L40S")
    # A model with attention keeps its KV rows.
    llama = plan_deployment(PlanRequest(vllm_version="0.19.1", model=facts("meta-llama/Llama-3.1-8B-Instruct"),
                                        gpu=gpu("L40S"), gpu_count=1, mode="predict", max_model_len=8192))
    assert "KV bytes/token/GPU" in ledger_text("llama", llama, "L40S") and llama.state_bytes_per_sequence == 0


def test_a_config_without_a_length_key_takes_any_max_model_len():
    # vLLM assumes 2048 when the config names no length key, but takes --max-model-len as given.
    f = hand(CODESTRAL, "codestral")
    assert f.max_position_embeddings == 2048 and f.max_len_assumed
    assert plan_deployment(request(CODESTRAL, "codestral", max_model_len=262144, max_num_seqs=16)).verdict == "ok"
    assert plan_deployment(request(CODESTRAL, "codestral")).max_model_len == 2048
    # A config that states its length still refuses a longer one.
    stated = {**CODESTRAL, "max_position_embeddings": 4096}
    refused = plan_deployment(request(stated, "stated", max_model_len=8192))
    assert refused.verdict == "invalid" and refused.failure_key == "workload.max_model_len"


def test_too_few_state_slots_is_refused_with_max_num_seqs_as_the_lever():
    # From 0.25 vLLM stops when max_num_seqs exceeds the Mamba blocks.
    p = plan_deployment(request(CODESTRAL, "codestral", version="0.33.0", max_model_len=8192))
    assert p.verdict == "invalid" and p.failure_key == "engine.max_num_seqs"
    assert p.num_gpu_blocks < p.max_num_seqs
    assert p.reasons[0].startswith(f"max_num_seqs ({p.max_num_seqs}) exceeds available Mamba cache blocks "
                                   f"({p.num_gpu_blocks})")
    fix = next(f for f in p.fixes if "engine.max_num_seqs" in dict(f.settings))
    seqs = dict(fix.settings)["engine.max_num_seqs"]
    assert seqs <= p.num_gpu_blocks and fix.verdict == "ok"
    assert plan_deployment(request(CODESTRAL, "codestral", version="0.33.0", max_model_len=8192,
                                   max_num_seqs=seqs)).verdict == "ok"


def test_tensor_parallel_halves_the_state_per_rank():
    one = plan_deployment(request(CODESTRAL, "codestral", gpu_name="H100-SXM-80GB", max_model_len=8192,
                                  max_num_seqs=64))
    two = plan_deployment(request(CODESTRAL, "codestral", gpu_name="H100-SXM-80GB", count=2, max_model_len=8192,
                                  max_num_seqs=64, tensor_parallel_size=2))
    page_two = (3 * (8192 + 2 * 8 * 128) // 2 + 128 * 64 * 128 // 2) * 2
    assert two.state_page_bytes == page_two == one.state_page_bytes // 2
    assert two.num_gpu_blocks == two.per_gpu.kv_cache_bytes // (64 * page_two)


def test_releases_serve_each_architecture_from_their_first_and_v1_from_later():
    old = plan_deployment(request(CODESTRAL, "codestral", version="0.7.2"))
    assert old.verdict == "invalid" and old.failure_key == "engine.version"
    assert "Model architectures ['Mamba2ForCausalLM'] are not supported for now" in old.reasons[0]
    assert {"engine.version": "0.10.2"} in [dict(f.settings) for f in old.fixes]
    # The V1 oracle of 0.9.2 - 0.10.1.1 sends every model with inner state to V0 unless
    # VLLM_USE_V1=1 (engine/arg_utils.py, '# V1 mamba models are unoptimized.'); 0.10.2 drops it.
    for config, name in ((CODESTRAL, "codestral"), (MAMBA_28B, "mamba"), (FALCON_MAMBA, "falcon")):
        for version in ("0.9.2", "0.10.0", "0.10.1", "0.10.1.1"):
            warned = plan_deployment(request(config, name, version=version)).warnings
            assert any("V0 engine" in w and "0.10.2" in w for w in warned), (name, version)
        assert not any("V0 engine" in w for w in plan_deployment(request(config, name, version="0.10.2")).warnings)
    # FalconMamba is in every bundled release.
    for config, name in ((MAMBA_28B, "mamba"), (FALCON_MAMBA, "falcon")):
        early = plan_deployment(request(config, name, version="0.6.6.post1", max_model_len=65536))
        # Served (on V0, warned): no refusal, and no KV-cache verdict for a model without attention.
        assert early.verdict == "ok" and any("V0 engine" in w for w in early.warnings)
    v0 = plan_deployment(request(CODESTRAL, "codestral", version="0.8.5", max_model_len=262144, max_num_seqs=16))
    assert v0.engine == "v1" and v0.verdict == "ok" and v0.block_size == 262144


def test_prefix_caching_on_a_model_without_attention_is_flagged():
    rules = rules_for_model("0.25.1", "Mamba2ForCausalLM", True, None)
    assert rules.mamba_state_blocks == 0     # Mamba2 supports Mamba prefix caching: mode 'all'
    p = plan_deployment(request(CODESTRAL, "codestral", version="0.25.1", max_model_len=8192, max_num_seqs=64,
                                enable_prefix_caching=True))
    assert any("mamba_block_size" in w and w.key == "engine.extra_args" for w in p.warnings)
    plain = plan_deployment(request(CODESTRAL, "codestral", version="0.25.1", max_model_len=8192, max_num_seqs=64))
    assert not any("mamba_block_size" in w for w in plain.warnings)


def test_inspect_reports_state_not_kv():
    r = report(hand(CODESTRAL, "codestral"))
    assert r["kv_bytes_per_token"] == 0 and r["attention_heads"] == 0
    assert r["recurrent_state"]["layers"] == {"mamba2": 64}
    per_sequence = 64 * (3 * (8192 + 2 * 8 * 128) + 128 * 64 * 128) * 2
    assert r["recurrent_state"]["bytes_per_sequence"] == per_sequence
    text = render_text(r)
    assert "0 (no attention layer: only the recurrent state below)" in text
    assert f"{per_sequence:,} bytes per sequence over 64 mamba2 layers" in text


def test_a_block_size_flag_does_not_change_the_state_block():
    # With prefix caching off vLLM's runner sets the Mamba block to max_model_len whatever
    # --block-size says (the attention block size has no attention layer to apply to).
    a = plan_deployment(request(CODESTRAL, "codestral", max_model_len=16384, max_num_seqs=32))
    b = plan_deployment(request(CODESTRAL, "codestral", max_model_len=16384, max_num_seqs=32, block_size=32))
    assert a.block_size == b.block_size == 16384 and a.num_gpu_blocks == b.num_gpu_blocks


def test_a_goal_the_state_slots_miss_is_worded_as_state_not_kv():
    # A compile asking for more running sequences than the state slots: the reason and the TP
    # choice name the state cache, the ledger's word for what holds them, not a KV cache.
    p = plan_deployment(dataclasses.replace(request(CODESTRAL, "codestral", max_model_len=32768), mode="compile",
                                            concurrency=100_000))
    assert p.verdict == "goal_not_met"
    slots = p.num_gpu_blocks
    assert p.reasons[-1] == (f"the state cache holds {slots:.2f} request(s) of 32768 tokens; "
                             "workload.concurrency asks for 100000")
    [tp] = [c for c in p.choices if c.knob == "tensor_parallel_size"]
    assert tp.reason.startswith("the size with the most state-cache room")
    assert not any("KV" in text for text in (*p.reasons, tp.reason))


def test_inspect_says_why_a_mamba2_model_has_no_intermediate_size():
    # Mamba2 configs state no intermediate_size (the mixer is `expand` x hidden wide): inspect said
    # a bare "intermediate_size 0"; it now says there is no MLP. Mamba1 states its mixer width.
    row = next(line for line in render_text(report(hand(CODESTRAL, "codestral"))).splitlines()
               if line.startswith("intermediate_size"))
    assert row.split(None, 1)[1] == "0 (no MLP: each layer is a norm and a Mamba mixer)"
    mamba1 = next(line for line in render_text(report(hand(MAMBA_28B, "mamba"))).splitlines()
                  if line.startswith("intermediate_size"))
    assert mamba1.split(None, 1)[1] == "5120"
