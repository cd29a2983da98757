"""The tensors of every decoder layer, per architecture family.

Each family describes a layer as a list of `Tensor`s named like the Hugging Face checkpoint
modules (so quantization exclusion lists can be matched) and tagged with how vLLM places them
under tensor parallelism: column/row-parallel linears are sharded, norms/routers/row-parallel
biases/MLA down-projections are replicated, routed experts are their own part.
"""
from __future__ import annotations

from collections.abc import Callable
from vllm_compile.fastclass import dataclass

from vllm_compile.ir.facts import AttentionKind, MlaFacts, MoeFacts

from .config import ALIASES, LIMITS, Config, FactsError, head_dim, kv_heads


@dataclass(frozen=True, slots=True)
class Tensor:
    name: str
    rows: int                 # output features of a linear, or the length of a vector
    cols: int = 0             # input features; 0 marks a vector (norm, bias, sink): never quantized
    part: str = "sharded"     # sharded | replicated | expert
    copies: int = 1           # routed experts stored side by side
    quantizable: bool = True  # routers stay 16-bit under every method
    elem_bytes: int = 0       # fixed element size (fp32 buffers); 0 = the load dtype

    @property
    def parameters(self) -> int:
        return self.rows * max(self.cols, 1) * self.copies


@dataclass(frozen=True, slots=True)
class Layer:
    attention: AttentionKind
    window: int | None
    kv_heads: int
    head_size: int
    head_size_v: int
    is_moe: bool
    tensors: tuple[Tensor, ...]
    # Recurrent ("mamba") layers: state elements per sequence before the TP split.
    conv_state: int = 0
    ssm_state: int = 0
    ssm_state_fp32: bool = False
    ssm_groups: int = 0          # Mamba2: B/C groups, replicated up to the TP size (LayerFacts)
    conv_group_state: int = 0    # Mamba2: conv-state elements one group adds
    mixer: str = ""              # the recurrent mixer when the layer holds a state
    ssm_heads: int = 0           # Mamba2 heads
    mixer_width: int = 0         # Mamba: in_proj output features
    group_tensors: tuple[Tensor, ...] = ()   # Mamba2: the weights one B/C group adds (replicated past the groups)
    # Sparse MLA: bytes per token of the lightning indexer's key cache (0 without an indexer).
    index_key_bytes: int = 0


@dataclass(frozen=True, slots=True)
class State:
    """What one recurrent mixer keeps per sequence, before the TP split (vLLM's
    MambaStateShapeCalculator): conv and SSM elements, and for Mamba2 the groups."""

    conv: int
    ssm: int
    groups: int = 0
    conv_per_group: int = 0
    heads: int = 0
    width: int = 0               # in_proj output features (Mamba mixers)
    group_tensors: tuple[Tensor, ...] = ()   # Mamba2: one B/C group's in_proj rows, conv channels and bias


@dataclass(frozen=True, slots=True)
class Arch:
    model_type: str
    num_layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tie: bool
    layers: tuple[Layer, ...]
    mla: MlaFacts | None
    moe: MoeFacts | None
    warnings: tuple[str, ...] = ()
    # Multi-token-prediction layers the checkpoint carries after the decoder (vLLM loads them
    # only for speculative decoding with method "mtp"): decoder layers + their own extras.
    mtp_layers: tuple[Layer, ...] = ()
    lm_head_fp32: bool = False   # vLLM casts lm_head to fp32 (MiniMax-Text-01)


@dataclass(frozen=True, slots=True)
class Family:
    """One architecture family: what its decoder layers hold and how vLLM lays them out.

    Every per-family difference lives in this row; `build` reads rows and never branches on a
    family's name. `attention` and `moe` name rules in `ATTENTION_RULES` / `MOE_RULES`."""

    qkv_bias: bool | None = None     # q/k/v biases: None = the config's `attention_bias`
    o_bias: bool | None = None       # o_proj bias: None = the config's `attention_bias`
    attention_bias: bool = False     # `attention_bias` when the config does not say
    qk_norm: str = "none"            # none | head (per-head RMSNorm, Qwen3/Gemma3) | full (across heads, OLMo2)
    fused_qkv: bool = False          # one qkv_proj tensor in the checkpoint (Phi-3, InternLM2)
    fused_gate_up: bool = False      # one gate_up_proj tensor (Phi-3)
    norms: int = 2                   # RMSNorm/LayerNorm vectors per decoder layer
    tie: bool = False                # `tie_word_embeddings` when the config does not say
    sinks: bool = False              # per-head attention sinks (gpt-oss)
    attention: str = "window"        # key of ATTENTION_RULES
    moe: str = "mixtral"             # key of MOE_RULES (used only when the config counts experts)
    ffn_prefix: str = "mlp."         # checkpoint module of the FFN (Llama 4: feed_forward.)
    linear: str = "none"             # the mixer of recurrent layers: none | gated_delta_net | mamba1 | mamba2 | kda
    mixer_prefix: str = "linear_attn."  # checkpoint module of the recurrent mixer
    layer_prefix: str = "model.layers."  # checkpoint module of the decoder layers (Nemotron-H: backbone.layers.)
    attn_prefix: str = "self_attn."  # checkpoint module of the attention (Nemotron-H: mixer.)
    parallel_mixer: bool = False     # every layer runs attention and the mixer side by side (Falcon-H1)
    ffn_rule: str = "every"          # key of FFN_RULES: which layers carry an FFN
    ssm_fp32: str = "config"         # SSM state fp32: config (`mamba_ssm_dtype`) | nemotron_h (unless the config says) | always
    gated_q: bool = False            # q_proj also yields a per-head output gate (`attn_output_gate`)
    intermediate_fallback: str | None = None  # config key read when `intermediate_size` is absent
    sparse_indexer: bool = False     # DeepSeek Sparse Attention: a lightning indexer beside every MLA layer
    lm_head_fp32: bool = False       # vLLM keeps lm_head in fp32 (MiniMax-Text-01: `self.lm_head.float()`)
    attention_free: bool = False     # no attention layer at all (pure Mamba): no heads, no KV cache
    ssm_keys: str = ""               # config spelling of the mixer (MAMBA1_KEYS / MAMBA2_KEYS); "" = by attention rule
    cross_layers: bool = False       # `cross_attention_layers` are cross-attention layers (Llama-3.2-Vision)
    extra_embedding_rows: int = 0    # embed_tokens rows beyond vocab_size (mllama: 8 image tokens)
    summary: str = ""                # one line for `inspect` and the docs


FAMILIES: dict[str, Family] = {
    "llama": Family(summary="GQA attention, gated MLP, two norms per layer"),
    "mistral": Family(summary="Llama layers; sliding window when the config sets one"),
    "yi": Family(summary="Llama layers"),
    "granite": Family(summary="Llama layers with scaled residuals (no extra tensors)"),
    "exaone": Family(summary="Llama layers"),
    "internlm2": Family(fused_qkv=True, summary="Llama layers with one fused wqkv"),
    "olmo2": Family(qk_norm="full", summary="Llama layers with q/k norms across all heads"),
    "qwen2": Family(qkv_bias=True, o_bias=False, attention="qwen_window",
                    summary="q/k/v biases, none on o_proj; sliding window above max_window_layers"),
    "qwen2_moe": Family(qkv_bias=True, o_bias=False, attention="qwen_window", moe="qwen",
                        summary="Qwen2 attention, routed experts + gated shared expert"),
    "qwen3": Family(qk_norm="head", attention="qwen_window", summary="per-head q/k norms, no biases"),
    "qwen3_moe": Family(qk_norm="head", attention="qwen_window", moe="qwen",
                        summary="Qwen3 attention, routed experts"),
    "mixtral": Family(summary="Llama attention, every layer routes over w1/w3/w2 experts"),
    "phi3": Family(fused_qkv=True, fused_gate_up=True, summary="fused qkv_proj and gate_up_proj"),
    "gemma": Family(tie=True, summary="tied embeddings, Llama-style layers"),
    "gemma2": Family(tie=True, norms=4, attention="alternate",
                     summary="four norms per layer, sliding and global layers alternating"),
    "gemma3_text": Family(tie=True, norms=4, qk_norm="head", attention="gemma3",
                          summary="Gemma 2 layers with per-head q/k norms; five local layers per global one"),
    "gpt_oss": Family(attention_bias=True, sinks=True, moe="gpt_oss",
                      summary="biased attention with sinks, biased fused MXFP4 experts"),
    "deepseek_v2": Family(attention="mla", moe="deepseek", summary="multi-head latent attention, shared + routed experts"),
    "deepseek_v3": Family(attention="mla", moe="deepseek", summary="MLA, routed experts with fp32 correction bias"),
    "kimi_k2": Family(attention="mla", moe="deepseek", summary="DeepSeek-V3 layers"),
    "deepseek_v32": Family(attention="mla", moe="deepseek", sparse_indexer=True,
                           summary="DeepSeek-V3 layers with sparse MLA: a lightning indexer picks index_topk "
                                   "tokens per query"),
    # Llama-3.2-Vision's language model (vLLM mllama.py MllamaTextModel): Llama self-attention
    # layers, and at `cross_attention_layers` layers whose attention reads the vision tokens:
    # their own q/k/v/o, per-head q/k RMSNorms and two scalar tanh gates (attention, MLP).
    "mllama_text_model": Family(cross_layers=True, extra_embedding_rows=8,
                                summary="Llama layers with gated cross-attention layers at "
                                        "`cross_attention_layers` (q/k norms, attention and MLP gates)"),
    "llama4_text": Family(attention="chunked_nope", moe="llama4", ffn_prefix="feed_forward.",
                          summary="chunked local attention with a global NoPE layer every fourth, MoE interleaved"),
    "qwen3_next": Family(qk_norm="head", attention="linear_interval", moe="qwen", linear="gated_delta_net",
                         gated_q=True, summary="gated delta-net layers with a gated full-attention layer every "
                                               "full_attention_interval, routed + shared experts"),
    "qwen3_5_text": Family(qk_norm="head", attention="linear_interval", moe="qwen", linear="gated_delta_net",
                           gated_q=True, summary="Qwen3-Next layers, dense MLP"),
    "qwen3_5_moe_text": Family(qk_norm="head", attention="linear_interval", moe="qwen", linear="gated_delta_net",
                               gated_q=True, intermediate_fallback="moe_intermediate_size",
                               summary="Qwen3-Next layers with routed + shared experts"),
    "granitemoehybrid": Family(attention="listed", moe="granite", linear="mamba2", mixer_prefix="mamba.",
                               ffn_prefix="",
                               summary="Mamba2 layers with a NoPE attention layer where `layer_types` says, "
                                       "every layer with routed experts + a shared MLP (or the shared MLP alone)"),
    "nemotron_h": Family(attention="nemotron_pattern", moe="nemotron_h", linear="mamba2", mixer_prefix="mixer.",
                         layer_prefix="backbone.layers.", attn_prefix="mixer.", ffn_prefix="mixer.", norms=1,
                         ffn_rule="nemotron_pattern", ssm_fp32="nemotron_h",
                         summary="one block per layer from `hybrid_override_pattern`: M Mamba2, * attention, "
                                 "- squared-ReLU MLP, E routed + shared experts"),
    "jamba": Family(attention="jamba_period", moe="jamba", linear="mamba1", mixer_prefix="mamba.",
                    ffn_prefix="feed_forward.",
                    summary="Mamba1 layers with attention every `attn_layer_period`, experts every "
                            "`expert_layer_period`"),
    "bamba": Family(attention="indices", linear="mamba2", mixer_prefix="mamba.", ffn_prefix="feed_forward.",
                    summary="Mamba2 layers with attention at `attn_layer_indices`, gated MLP"),
    "falcon_h1": Family(attention="window", linear="mamba2", mixer_prefix="mamba.", parallel_mixer=True,
                        ffn_prefix="feed_forward.",
                        summary="attention and a Mamba2 mixer side by side in every layer, gated MLP"),
    "kimi_linear": Family(attention="kda_listed", moe="kimi", linear="kda", mixer_prefix="self_attn.", ssm_fp32="always",
                          ffn_prefix="",
                          summary="Kimi Delta Attention layers and MLA layers where `linear_attn_config` lists them, "
                                  "routed experts + shared experts after `first_k_dense_replace`"),
    "minimax_text_01": Family(attention="minimax_types", moe="minimax", linear="lightning", mixer_prefix="self_attn.",
                              ffn_prefix="", lm_head_fp32=True,
                              summary="lightning (linear) attention layers with softmax attention where "
                                      "`attn_type_list` says 1, routed experts (fp32 router), fp32 lm_head"),
    # Pure state-space models (vLLM mamba.py / mamba2.py): backbone.embeddings, then per layer one
    # RMSNorm and the mixer (no attention, no MLP), backbone.norm_f, lm_head tied where the config
    # says (HF MambaConfig / FalconMambaConfig leave the tie on by default, Mamba2Config off).
    "mamba": Family(attention="ssm", linear="mamba1", ssm_keys="hf", mixer_prefix="mixer.",
                    layer_prefix="backbone.layers.", norms=1, tie=True, ffn_rule="none", attention_free=True,
                    summary="Mamba1 mixer and one norm per layer; no attention, no MLP"),
    "falcon_mamba": Family(attention="ssm", linear="mamba1", ssm_keys="falcon_mamba", mixer_prefix="mixer.",
                           layer_prefix="backbone.layers.", norms=1, tie=True, ffn_rule="none", attention_free=True,
                           summary="Mamba1 layers with weightless RMS norms on dt, B and C; no attention, no MLP"),
    "mamba2": Family(attention="ssm", linear="mamba2", ssm_keys="hf", mixer_prefix="mixer.",
                     layer_prefix="backbone.layers.", norms=1, ffn_rule="none", attention_free=True,
                     summary="Mamba2 mixer (heads, B/C groups, gated norm) and one norm per layer; no attention, "
                             "no MLP"),
}
# model_type of a multimodal model's language part -> its text family (the config's own
# text_config.model_type where there is one).
TEXT_FAMILY = {"qwen2_vl": "qwen2", "qwen2_5_vl": "qwen2", "gemma3": "gemma3_text", "llama4": "llama4_text",
               "mistral3": "mistral", "pixtral": "mistral", "llava": "llama", "qwen3_5": "qwen3_5_text",
               "qwen3_5_moe": "qwen3_5_moe_text", "minimax_m1": "minimax_text_01", "mllama": "mllama_text_model"}
SUPPORTED = tuple(sorted(FAMILIES))
GENERIC = "llama"   # the row an unknown model_type with the standard keys is read as (with a warning)
REQUIRED = ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size", "vocab_size")
LAYER_TYPES: dict[str, AttentionKind] = {"full_attention": "full", "sliding_attention": "sliding", "chunked_attention": "chunked",
                                         "linear_attention": "mamba", "mamba": "mamba", "attention": "full"}


def family_of(model_type: str) -> tuple[str, Family] | None:
    name = model_type.lower() if model_type.lower() == "yi" else model_type
    name = TEXT_FAMILY.get(name, name)
    row = FAMILIES.get(name)
    return (name, row) if row else None


def _v(name: str, n: int, part: str = "replicated", **kw) -> Tensor:
    return Tensor(name, n, 0, part, **kw)


def _attention(p: str, hidden: int, heads: int, kv: int, hd: int, *, qkv_bias: bool, o_bias: bool,
               qk_norm: str = "none", fused: bool = False, sinks: bool = False) -> list[Tensor]:
    q, k = heads * hd, kv * hd
    out = [Tensor(p + "qkv_proj", q + 2 * k, hidden)] if fused else [
        Tensor(p + "q_proj", q, hidden), Tensor(p + "k_proj", k, hidden), Tensor(p + "v_proj", k, hidden)]
    if qkv_bias:   # column-parallel: each rank holds the bias of its own heads
        out += [_v(p + "q_proj.bias", q, "sharded"), _v(p + "k_proj.bias", k, "sharded"),
                _v(p + "v_proj.bias", k, "sharded")]
    out.append(Tensor(p + "o_proj", hidden, q))
    if o_bias:     # row-parallel: added once after the all-reduce, so every rank keeps it whole
        out.append(_v(p + "o_proj.bias", hidden))
    if qk_norm == "head":
        out += [_v(p + "q_norm", hd), _v(p + "k_norm", hd)]
    elif qk_norm == "full":
        out += [_v(p + "q_norm", q), _v(p + "k_norm", k)]
    if sinks:
        out.append(_v(p + "sinks", heads))
    return out


def _mlp(p: str, hidden: int, inter: int, *, bias: bool = False, fused: bool = False,
         part: str = "sharded", copies: int = 1, names=("gate_proj", "up_proj", "down_proj")) -> list[Tensor]:
    gate, up, down = names
    out = ([Tensor(p + "gate_up_proj", 2 * inter, hidden, part, copies)] if fused else
           [Tensor(p + gate, inter, hidden, part, copies), Tensor(p + up, inter, hidden, part, copies)])
    out.append(Tensor(p + down, hidden, inter, part, copies))
    if bias:
        row_bias_part = "expert" if part == "expert" else "replicated"
        out += [_v(p + "gate_up_proj.bias", 2 * inter, part, copies=copies),
                _v(p + "down_proj.bias", hidden, row_bias_part, copies=copies)]
    return out


def _router(p: str, experts: int, hidden: int, bias: bool = False) -> list[Tensor]:
    out = [Tensor(p, experts, hidden, "replicated", quantizable=False)]
    return out + ([_v(p + ".bias", experts)] if bias else [])


def _gated_delta_net(c: Config, p: str, hidden: int) -> tuple[list[Tensor], int, int]:
    """One gated delta-net mixer as vLLM builds it (qwen3_next.py): the fused q/k/v/z and b/a
    input projections and the depthwise conv are column-parallel, the out projection
    row-parallel; A_log and dt_bias follow the value heads; the gated RMSNorm spans one value
    head. Returns (tensors, conv state elements, recurrent state elements) per sequence:
    conv (kernel - 1) x (2 x key dim + value dim); recurrent value heads x key head x value head."""
    k_heads = c.int("linear_num_key_heads", limit=LIMITS["num_attention_heads"])
    v_heads = c.int("linear_num_value_heads", limit=LIMITS["num_attention_heads"])
    k_dim = c.int("linear_key_head_dim", limit=LIMITS["head_dim"])
    v_dim = c.int("linear_value_head_dim", limit=LIMITS["head_dim"])
    kernel = c.int("linear_conv_kernel_dim", 4, limit=64)
    key, value = k_heads * k_dim, v_heads * v_dim
    conv_dim = 2 * key + value
    out = [Tensor(p + "in_proj_qkvz", 2 * key + 2 * value, hidden), Tensor(p + "in_proj_ba", 2 * v_heads, hidden),
           Tensor(p + "conv1d", conv_dim, kernel, quantizable=False), _v(p + "A_log", v_heads, "sharded"),
           _v(p + "dt_bias", v_heads, "sharded"), _v(p + "norm", v_dim), Tensor(p + "out_proj", hidden, value)]
    return out, (kernel - 1) * conv_dim, v_heads * k_dim * v_dim


def _mamba2(c: Config, fam: Family, p: str, hidden: int) -> tuple[list[Tensor], State]:
    """One Mamba2 mixer as vLLM builds it (MambaMixer2): in_proj yields the gate and x
    (intermediate each), B and C (n_groups x d_state each) and dt (one per head); the depthwise
    conv runs over x, B and C; A, D and dt_bias follow the heads; the gated RMSNorm spans the
    intermediate width; out_proj is row-parallel. State per sequence: conv (kernel - 1) x conv
    width, SSM heads x head dim x d_state."""
    keys = MAMBA2_KEYS[_key_set(fam, MAMBA2_KEYS)]
    heads = c.int(keys["heads"], limit=LIMITS["intermediate_size"])
    d_state = c.int(keys["state"], limit=LIMITS["head_dim"])
    groups = c.int(keys["groups"], 1, limit=LIMITS["num_attention_heads"])
    kernel = c.int(keys["kernel"], 4, limit=64)
    if keys["inner"] and c.has(keys["inner"]):        # Falcon-H1's mamba_d_ssm
        inner = c.int(keys["inner"], limit=LIMITS["intermediate_size"])
    elif isinstance(c.raw(keys["head_dim"]), int):
        inner = heads * c.int(keys["head_dim"], limit=LIMITS["head_dim"])
    else:                                            # mamba_d_head "auto": expand x hidden over the heads
        inner = c.int(keys["expand"], 2, limit=64) * hidden
    if inner % heads:
        raise FactsError(f"the Mamba2 width {inner} is not a multiple of the {heads} heads", key=keys["heads"])
    head_dim = inner // heads
    if heads % groups:
        raise FactsError(f"{keys['heads']} {heads} is not a multiple of the {groups} groups", key=keys["groups"])
    conv_dim = inner + 2 * groups * d_state
    proj_bias = c.bool(keys["proj_bias"], False)
    out = [Tensor(p + "in_proj", 2 * inner + 2 * groups * d_state + heads, hidden),
           Tensor(p + "conv1d", conv_dim, kernel, quantizable=False)]
    if c.bool(keys["conv_bias"], True):
        out.append(_v(p + "conv1d.bias", conv_dim, "sharded"))
    if proj_bias:
        out.append(_v(p + "in_proj.bias", 2 * inner + 2 * groups * d_state + heads, "sharded"))
    out += [_v(p + "A_log", heads, "sharded"), _v(p + "D", heads, "sharded"), _v(p + "dt_bias", heads, "sharded")]
    if not keys["norm"] or c.bool(keys["norm"], False):   # Falcon-H1: the gated norm only with mamba_rms_norm
        out.append(_v(p + "norm", inner, "sharded"))
    out.append(Tensor(p + "out_proj", hidden, inner))
    if proj_bias:
        out.append(_v(p + "out_proj.bias", hidden))
    # One group's share of the weights: vLLM replicates whole groups when TP does not divide them
    # (extra_groups_for_head_shards), so a rank then holds a group's rows whole.
    group = [Tensor(p + "in_proj", 2 * d_state, hidden), Tensor(p + "conv1d", 2 * d_state, kernel, quantizable=False)]
    if c.bool(keys["conv_bias"], True):
        group.append(_v(p + "conv1d.bias", 2 * d_state, "sharded"))
    return out, State((kernel - 1) * conv_dim, heads * head_dim * d_state, groups, (kernel - 1) * 2 * d_state, heads,
                      2 * inner + 2 * groups * d_state + heads, tuple(group))


def _mamba1(c: Config, fam: Family, p: str, hidden: int) -> tuple[list[Tensor], State]:
    """One Mamba1 mixer as vLLM builds it (MambaMixer): in_proj yields x and the gate; x_proj
    (row-parallel) yields dt, B and C; dt_proj, A_log, D and the conv follow the intermediate
    channels. Jamba adds RMS norms with weights on dt, B and C; FalconMamba's are weightless
    (rms_norm_has_weight off); Mamba has none. State per sequence: conv (kernel - 1) x
    intermediate, SSM intermediate x d_state."""
    keys = MAMBA1_KEYS[_key_set(fam, MAMBA1_KEYS)]
    if keys["inner"] and c.has(keys["inner"]):      # HF MambaConfig's intermediate_size (FalconMamba: not expand x hidden)
        inner = c.int(keys["inner"], limit=LIMITS["intermediate_size"])
    else:
        inner = c.int(keys["expand"], 2, limit=64) * hidden
    d_state = c.int(keys["state"], 16, limit=LIMITS["head_dim"])
    kernel = c.int(keys["kernel"], 4, limit=64)
    rank = c.raw(keys["dt_rank"], "auto")
    dt_rank = -(-hidden // 16) if rank == "auto" else c.int(keys["dt_rank"], limit=LIMITS["hidden_size"])
    proj_bias = c.bool(keys["proj_bias"], False)
    out = [Tensor(p + "in_proj", 2 * inner, hidden), Tensor(p + "conv1d", inner, kernel, quantizable=False)]
    if c.bool(keys["conv_bias"], True):
        out.append(_v(p + "conv1d.bias", inner, "sharded"))
    out += [Tensor(p + "x_proj", dt_rank + 2 * d_state, inner), Tensor(p + "dt_proj", inner, dt_rank),
            _v(p + "dt_proj.bias", inner, "sharded"), Tensor(p + "A_log", inner, d_state, quantizable=False),
            _v(p + "D", inner, "sharded")]
    if keys["norms"]:
        out += [_v(p + "dt_layernorm", dt_rank), _v(p + "b_layernorm", d_state), _v(p + "c_layernorm", d_state)]
    out.append(Tensor(p + "out_proj", hidden, inner))
    if proj_bias:
        out += [_v(p + "in_proj.bias", 2 * inner, "sharded"), _v(p + "out_proj.bias", hidden)]
    return out, State((kernel - 1) * inner, inner * d_state, width=2 * inner)


def _gdn_mixer(c: Config, fam: Family, p: str, hidden: int) -> tuple[list[Tensor], State]:
    tensors, conv, ssm = _gated_delta_net(c, p, hidden)
    return tensors, State(conv, ssm)


def _kda_config(c: Config) -> Config:
    """Kimi Linear's `linear_attn_config` block (KDA heads, head size, conv kernel, layer lists)."""
    block = c.dict("linear_attn_config")
    if block is None:
        raise FactsError("a Kimi Linear config needs `linear_attn_config` (KDA heads, head_dim, kernel, layer lists)",
                         key="linear_attn_config")
    return Config(block, where=f"{c.where}.linear_attn_config")


def _kda(c: Config, fam: Family, p: str, hidden: int) -> tuple[list[Tensor], State]:
    """One Kimi Delta Attention mixer as vLLM builds it (KimiDeltaAttention, layers/kda.py): q, k
    and v projections of num_heads x head_dim, each with its own short depthwise conv (fp32,
    unquantized); the forget gate and the output gate are low-rank, a replicated down-projection
    to head_dim and a column-parallel up-projection; dt_bias (fp32) per channel, A_log (fp32) and
    the beta projection per head; the gated RMSNorm spans one head; o_proj is row-parallel.
    State per sequence (MambaStateShapeCalculator.kda_state_shape): three conv states of
    (kernel - 1) x projection, in the conv dtype, and a recurrent state of heads x head_dim x
    head_dim that kda_state_dtype keeps in fp32 whatever the cache dtypes."""
    k = _kda_config(c)
    heads = k.int("num_heads", limit=LIMITS["num_attention_heads"])
    hd = k.int("head_dim", limit=LIMITS["head_dim"])
    kernel = k.int("short_conv_kernel_size", 4, limit=64)
    proj = heads * hd
    out = [Tensor(p + "q_proj", proj, hidden), Tensor(p + "k_proj", proj, hidden), Tensor(p + "v_proj", proj, hidden),
           Tensor(p + "f_a_proj", hd, hidden, "replicated"), Tensor(p + "f_b_proj", proj, hd),
           _v(p + "dt_bias", proj, "sharded", elem_bytes=4), Tensor(p + "b_proj", heads, hidden)]
    out += [Tensor(p + f"{x}_conv1d", proj, kernel, quantizable=False, elem_bytes=4) for x in "qkv"]
    out += [_v(p + "A_log", heads, "sharded", elem_bytes=4), Tensor(p + "g_a_proj", hd, hidden, "replicated"),
            Tensor(p + "g_b_proj", proj, hd), _v(p + "o_norm", hd), Tensor(p + "o_proj", hidden, proj)]
    return out, State((kernel - 1) * 3 * proj, heads * hd * hd, heads=heads)


def _lightning(c: Config, fam: Family, p: str, hidden: int) -> tuple[list[Tensor], State]:
    """One MiniMax lightning-attention mixer as vLLM builds it (MiniMaxText01LinearAttention,
    layers/mamba/linear_attn.py): a fused column-parallel qkv_proj and output_gate over
    heads x head_dim, a TP-split RMSNorm over that width, a row-parallel out_proj; the decay
    slopes are a buffer, not weights. State per sequence (linear_attention_state_shape): heads x
    head_dim x head_dim, in the cache dtype (linear_attention_state_dtype refuses fp32)."""
    heads = c.int("num_attention_heads", limit=LIMITS["num_attention_heads"])
    hd = head_dim(c, hidden, heads)
    inner = heads * hd
    out = [Tensor(p + "qkv_proj", 3 * inner, hidden), Tensor(p + "output_gate", inner, hidden),
           _v(p + "norm", inner, "sharded"), Tensor(p + "out_proj", hidden, inner)]
    return out, State(0, heads * hd * hd)


MIXERS: dict[str, Callable[[Config, Family, str, int], tuple[list[Tensor], State]]] = {
    "gated_delta_net": _gdn_mixer, "mamba1": _mamba1, "mamba2": _mamba2, "kda": _kda, "lightning": _lightning}
# Config keys of a Mamba2 mixer, per family (keyed by the family's attention rule; Granite-4.0-H
# and Falcon-H1 share the `mamba_*` spelling, Nemotron-H has its own).
_MAMBA_KEYS = {"heads": "mamba_n_heads", "head_dim": "mamba_d_head", "state": "mamba_d_state",
               "groups": "mamba_n_groups", "kernel": "mamba_d_conv", "proj_bias": "mamba_proj_bias",
               "conv_bias": "mamba_conv_bias", "inner": "mamba_d_ssm", "norm": "mamba_rms_norm",
               "expand": "mamba_expand"}
MAMBA2_KEYS = {
    "default": {**_MAMBA_KEYS, "norm": ""},
    "window": _MAMBA_KEYS,   # Falcon-H1: the gated norm only with `mamba_rms_norm`
    "nemotron_pattern": {"heads": "mamba_num_heads", "head_dim": "mamba_head_dim", "state": "ssm_state_size",
                         "groups": "n_groups", "kernel": "conv_kernel", "proj_bias": "mamba_proj_bias",
                         "conv_bias": "use_conv_bias", "inner": "", "norm": "", "expand": "mamba_expand"},
    # Mamba2ForCausalLM (HF Mamba2Config): the gated norm always; vLLM reads intermediate_size
    # where the config has one, else expand x hidden.
    "hf": {"heads": "num_heads", "head_dim": "head_dim", "state": "state_size", "groups": "n_groups",
           "kernel": "conv_kernel", "proj_bias": "use_bias", "conv_bias": "use_conv_bias", "inner": "intermediate_size",
           "norm": "", "expand": "expand"},
}
# Config keys of a Mamba1 mixer: Jamba's `mamba_*` spelling with weighted dt/B/C norms, HF
# MambaConfig's (MambaForCausalLM) without them, FalconMamba's whose norms hold no weights.
_MAMBA1_HF = {"inner": "intermediate_size", "expand": "expand", "state": "state_size", "kernel": "conv_kernel",
              "dt_rank": "time_step_rank", "proj_bias": "use_bias", "conv_bias": "use_conv_bias", "norms": ""}
MAMBA1_KEYS = {
    "default": {"inner": "", "expand": "mamba_expand", "state": "mamba_d_state", "kernel": "mamba_d_conv",
                "dt_rank": "mamba_dt_rank", "proj_bias": "mamba_proj_bias", "conv_bias": "mamba_conv_bias",
                "norms": "weighted"},
    "hf": _MAMBA1_HF,
    "falcon_mamba": _MAMBA1_HF,
}


def _key_set(fam: Family, table: dict) -> str:
    """The row of a mixer's key table a family reads: its own `ssm_keys`, else its attention rule's."""
    for name in (fam.ssm_keys, fam.attention):
        if name in table:
            return name
    return "default"


# The lightning indexer's key cache (vLLM deepseek_v2.py `Indexer`, `DeepseekV32IndexerCache`):
# keys quantized to fp8 in blocks of this many elements, each block with one fp32 scale, stored as
# uint8 rows of index_head_dim + index_head_dim / 128 * 4 bytes (132 for DeepSeek-V3.2).
INDEX_QUANT_BLOCK = 128


def _indexer(c: Config, p: str, hidden: int, q_lora_rank: int | None) -> tuple[list[Tensor], int, int, int, int]:
    """DeepSeek Sparse Attention's lightning indexer as vLLM builds it (deepseek_v2.py `Indexer`):
    every projection is a ReplicatedLinear ("no tensor parallel, just replicated"); wq_b
    (q_lora_rank -> index_n_heads x index_head_dim) and wk (hidden -> index_head_dim) take the
    checkpoint's quantization (block-fp8 with weight_scale_inv in DeepSeek-V3.2), weights_proj
    (hidden -> index_n_heads) is built with quant_config=None and stored bf16; k_norm is a
    LayerNorm with weight and bias (fp32, as DeepSeek's reference model keeps it). Returns
    (tensors, key-cache bytes per token, index_n_heads, index_head_dim, index_topk)."""
    if not q_lora_rank:
        raise FactsError("the sparse-attention indexer reads the query latent, but the config has no "
                         "`q_lora_rank`", key="q_lora_rank")
    n = c.int("index_n_heads", limit=LIMITS["num_attention_heads"])
    d = c.int("index_head_dim", limit=LIMITS["head_dim"])
    topk = c.int("index_topk", limit=LIMITS["positions"])
    i = p + "indexer."
    out = [Tensor(i + "wq_b", n * d, q_lora_rank, "replicated"),
           Tensor(i + "wk", d, hidden, "replicated"),
           _v(i + "k_norm", d, elem_bytes=4), _v(i + "k_norm.bias", d, elem_bytes=4),
           Tensor(i + "weights_proj", n, hidden, "replicated", quantizable=False)]
    return out, d + d // INDEX_QUANT_BLOCK * 4, n, d, topk


def _mla(c: Config, p: str, hidden: int, heads: int,
         sparse: bool = False) -> tuple[list[Tensor], MlaFacts, int]:
    mla = MlaFacts(kv_lora_rank=c.int("kv_lora_rank", limit=LIMITS["hidden_size"]),
                   qk_rope_head_dim=c.int("qk_rope_head_dim", limit=LIMITS["head_dim"]),
                   qk_nope_head_dim=c.int("qk_nope_head_dim", limit=LIMITS["head_dim"]),
                   v_head_dim=c.int("v_head_dim", limit=LIMITS["head_dim"]),
                   q_lora_rank=c.opt_int("q_lora_rank", limit=LIMITS["hidden_size"]))
    q_head = mla.qk_nope_head_dim + mla.qk_rope_head_dim
    if mla.q_lora_rank:
        # The down-projections are ReplicatedLinear in vLLM: every TP rank holds them whole.
        out = [Tensor(p + "q_a_proj", mla.q_lora_rank, hidden, "replicated"),
               _v(p + "q_a_layernorm", mla.q_lora_rank),
               Tensor(p + "q_b_proj", heads * q_head, mla.q_lora_rank)]
    else:
        out = [Tensor(p + "q_proj", heads * q_head, hidden)]
    out += [Tensor(p + "kv_a_proj_with_mqa", mla.kv_lora_rank + mla.qk_rope_head_dim, hidden, "replicated"),
            _v(p + "kv_a_layernorm", mla.kv_lora_rank),
            Tensor(p + "kv_b_proj", heads * (mla.qk_nope_head_dim + mla.v_head_dim), mla.kv_lora_rank),
            Tensor(p + "o_proj", hidden, heads * mla.v_head_dim)]
    if not sparse:
        return out, mla, 0
    indexer, key_bytes, n, d, topk = _indexer(c, p, hidden, mla.q_lora_rank)
    mla = MlaFacts(mla.kv_lora_rank, mla.qk_rope_head_dim, mla.qk_nope_head_dim, mla.v_head_dim, mla.q_lora_rank,
                   index_topk=topk, index_n_heads=n, index_head_dim=d)
    return out + indexer, mla, key_bytes


def _layer_types(c: Config, n: int) -> list[tuple[AttentionKind, int | None]] | None:
    window = c.opt_int("sliding_window", limit=LIMITS["positions"])
    layer_types = c.list("layer_types")
    if layer_types is None:
        return None
    if len(layer_types) != n:
        raise FactsError(f"`layer_types` has {len(layer_types)} entries for {n} layers", key="layer_types")
    kinds: list[tuple[AttentionKind, int | None]] = []
    for t in layer_types:
        if t not in LAYER_TYPES:
            raise FactsError(f"layer type {t!r} is not supported (known: {', '.join(LAYER_TYPES)})",
                             key="layer_types")
        kind = LAYER_TYPES[t]
        size = window if kind == "sliding" else c.opt_int("attention_chunk_size") if kind == "chunked" else None
        if kind in ("sliding", "chunked") and size is None:
            raise FactsError(f"`layer_types` names {t} but the config gives no window size", key="layer_types")
        kinds.append((kind, size))
    return kinds


def _window_rule(c: Config, n: int) -> list[tuple[AttentionKind, int | None]]:
    """Every layer slides when the config gives a window (and does not switch it off)."""
    window = c.opt_int("sliding_window", limit=LIMITS["positions"])
    if window and c.bool("use_sliding_window", True):
        return [("sliding", window) for _ in range(n)]
    return [("full", None) for _ in range(n)]


def _qwen_window_rule(c: Config, n: int) -> list[tuple[AttentionKind, int | None]]:
    """Qwen: the window applies only with `use_sliding_window`, from `max_window_layers` on."""
    window = c.opt_int("sliding_window", limit=LIMITS["positions"])
    if c.bool("use_sliding_window", False) and window:
        first = c.int("max_window_layers", n, minimum=0, limit=LIMITS["num_hidden_layers"])
        return [("sliding", window) if i >= first else ("full", None) for i in range(n)]
    return [("full", None) for _ in range(n)]


def _alternate_rule(c: Config, n: int) -> list[tuple[AttentionKind, int | None]]:
    """Gemma 2: even layers are local (sliding), odd layers global."""
    window = c.opt_int("sliding_window", limit=LIMITS["positions"])
    return [("sliding", window) if window and i % 2 == 0 else ("full", None) for i in range(n)]


def _gemma3_rule(c: Config, n: int) -> list[tuple[AttentionKind, int | None]]:
    """Gemma 3 configs without `layer_types`: every `sliding_window_pattern`-th layer is global."""
    window = c.opt_int("sliding_window", limit=LIMITS["positions"])
    pattern = c.int("sliding_window_pattern", 6, limit=LIMITS["num_hidden_layers"])
    return [("sliding", window) if window and (i + 1) % pattern else ("full", None) for i in range(n)]


def _linear_interval_rule(c: Config, n: int) -> list[tuple[AttentionKind, int | None]]:
    """Qwen3-Next configs without `layer_types`: every `full_attention_interval`-th layer is full
    attention, the others gated delta-net."""
    interval = c.int("full_attention_interval", 4, limit=LIMITS["num_hidden_layers"])
    return [("full", None) if (i + 1) % interval == 0 else ("mamba", None) for i in range(n)]


def _listed_rule(c: Config, n: int) -> list[tuple[AttentionKind, int | None]]:
    """Granite-4.0-H: `layer_types` names each layer "mamba" or "attention" (read above); a
    config without it is all attention."""
    return [("full", None) for _ in range(n)]


def _cross_layers(c: Config, n: int) -> set[int]:
    """Llama-3.2-Vision: the 0-based indices of the cross-attention layers."""
    listed = c.list("cross_attention_layers") or []
    if any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n for i in listed):
        raise FactsError(f"config{c.where} `cross_attention_layers` must list layer indices below {n}",
                         key="cross_attention_layers")
    return set(listed)


def _nemotron_pattern(c: Config, n: int) -> str:
    pattern = c.raw("hybrid_override_pattern")
    if not isinstance(pattern, str) or len(pattern) != n or set(pattern) - set("M*-E"):
        raise FactsError(f"`hybrid_override_pattern` must be a string of {n} characters from M (Mamba2), * (attention), "
                         "- (MLP) and E (experts)", key="hybrid_override_pattern")
    return pattern


def _nemotron_rule(c: Config, n: int) -> list[tuple[AttentionKind, int | None]]:
    """Nemotron-H: one block per layer; only M layers keep a state and * layers a KV cache."""
    kinds: dict[str, AttentionKind] = {"M": "mamba", "*": "full", "-": "none", "E": "none"}
    return [(kinds[ch], None) for ch in _nemotron_pattern(c, n)]


def _jamba_rule(c: Config, n: int) -> list[tuple[AttentionKind, int | None]]:
    """Jamba: attention where (i - attn_layer_offset) % attn_layer_period == 0, Mamba elsewhere."""
    period = c.int("attn_layer_period", 8, limit=LIMITS["num_hidden_layers"])
    offset = c.int("attn_layer_offset", 4, minimum=0, limit=LIMITS["num_hidden_layers"])
    return [("full", None) if i % period == offset % period else ("mamba", None) for i in range(n)]


def _indices_rule(c: Config, n: int) -> list[tuple[AttentionKind, int | None]]:
    """Bamba: attention at `attn_layer_indices`, Mamba2 elsewhere."""
    listed = c.list("attn_layer_indices") or []
    if any(not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < n for i in listed):
        raise FactsError(f"`attn_layer_indices` must list layer indices below {n}", key="attn_layer_indices")
    return [("full", None) if i in listed else ("mamba", None) for i in range(n)]


def _mla_rule(c: Config, n: int) -> list[tuple[AttentionKind, int | None]]:
    return [("mla", None) for _ in range(n)]


def _chunked_nope_rule(c: Config, n: int) -> list[tuple[AttentionKind, int | None]]:
    """Llama 4: NoPE layers (every 4th by default) attend globally; RoPE layers use chunked
    local attention."""
    chunk = c.opt_int("attention_chunk_size", limit=LIMITS["positions"])
    nope = c.list("no_rope_layers")
    if nope is not None and len(nope) != n:
        raise FactsError(f"`no_rope_layers` has {len(nope)} entries for {n} layers", key="no_rope_layers")
    global_layer = [nope[i] == 0 if nope is not None else (i + 1) % 4 == 0 for i in range(n)]
    return [("full", None) if g or not chunk else ("chunked", chunk) for g in global_layer]


def _kda_listed_rule(c: Config, n: int) -> list[tuple[AttentionKind, int | None]]:
    """Kimi Linear: `linear_attn_config.kda_layers` lists the KDA layers 1-based (vLLM's
    KimiLinearConfig.is_kda_layer tests layer_idx + 1); every other layer is MLA."""
    listed = _kda_config(c).list("kda_layers")
    if listed is None or any(not isinstance(i, int) or isinstance(i, bool) or not 1 <= i <= n for i in listed):
        raise FactsError(f"`linear_attn_config.kda_layers` must list 1-based layer numbers from 1 to {n}",
                         key="linear_attn_config")
    return [("mamba", None) if i + 1 in listed else ("mla", None) for i in range(n)]


def _minimax_rule(c: Config, n: int) -> list[tuple[AttentionKind, int | None]]:
    """MiniMax-Text-01 / M1: `attn_type_list` (or `decoder_attention_types`) gives 0 for a
    lightning-attention layer and 1 for softmax attention; without either every layer is softmax."""
    key = "attn_type_list" if c.has("attn_type_list") else "decoder_attention_types"
    listed = c.list(key)
    if listed is None:
        return [("full", None) for _ in range(n)]
    if len(listed) != n or any(t not in (0, 1) or isinstance(t, bool) for t in listed):
        raise FactsError(f"`{key}` must list 0 (linear) or 1 (softmax) for each of the {n} layers", key=key)
    return [("full", None) if t == 1 else ("mamba", None) for t in listed]


def _ssm_rule(c: Config, n: int) -> list[tuple[AttentionKind, int | None]]:
    """Pure state-space models: every layer is a recurrent mixer."""
    return [("mamba", None) for _ in range(n)]


ATTENTION_RULES = {"ssm": _ssm_rule, "window": _window_rule, "qwen_window": _qwen_window_rule, "alternate": _alternate_rule,
                   "gemma3": _gemma3_rule, "mla": _mla_rule, "chunked_nope": _chunked_nope_rule,
                   "linear_interval": _linear_interval_rule, "listed": _listed_rule,
                   "nemotron_pattern": _nemotron_rule, "jamba_period": _jamba_rule, "indices": _indices_rule,
                   "kda_listed": _kda_listed_rule, "minimax_types": _minimax_rule}


def _attention_kinds(c: Config, family: Family, n: int) -> list[tuple[AttentionKind, int | None]]:
    """(kind, window) per layer, as vLLM builds its attention layers: the config's
    `layer_types` when it lists them, else the family's rule."""
    listed = _layer_types(c, n) if family.attention != "mla" else None
    kinds = listed if listed is not None else ATTENTION_RULES[family.attention](c, n)
    if family.linear == "none" and any(kind == "mamba" for kind, _ in kinds):
        raise FactsError("`layer_types` names linear_attention layers, which this model family does not have",
                         key="layer_types")
    return kinds


# Config keys that only hybrid attention/recurrent models carry (Qwen3-Next and Qwen3.5 GDN,
# Jamba, Granite-4.0-H, Nemotron-H, Falcon-H1, Zamba2, Bamba).
RECURRENT_KEYS = ("full_attention_interval", "linear_num_value_heads", "layers_block_type", "hybrid_override_pattern",
                  "attn_layer_indices", "attn_layer_period", "mamba_d_state", "mamba_expand", "ssm_state_size",
                  "mamba_n_heads", "mamba_d_conv", "linear_attn_config", "attn_type_list")


def _recurrent_layers(c: Config) -> bool:
    kinds = c.raw("layer_types")
    if isinstance(kinds, list) and any(isinstance(k, str) and ("linear" in k or "mamba" in k) for k in kinds):
        return True
    return any(c.has(key) for key in RECURRENT_KEYS)


def build(c: Config, model_type: str, *, generic_ok: bool) -> Arch:
    warnings: list[str] = []
    found = family_of(model_type)
    if found is None:
        missing = [k for k in REQUIRED if not any(c.has(a) for a in ALIASES.get(k, (k,)))]
        if missing:
            raise FactsError(f"model_type {model_type!r} is not supported and its config lacks "
                             f"{', '.join(missing)}", key="model_type",
                             fix="state the architecture by hand under model.facts, or use a supported family: "
                                 + ", ".join(SUPPORTED))
        if not generic_ok and _recurrent_layers(c):
            warnings.append(f"model_type {model_type!r} mixes attention with linear-attention or Mamba layers, which "
                            "vllm-compile does not model: every layer is read as full attention, which overstates the KV "
                            "cache per token and leaves out each sequence's recurrent state and vLLM's enlarged hybrid "
                            "block size; treat the plan as a rough bound and check the first start-up's log")
        elif not generic_ok:
            warnings.append(f"model_type {model_type!r} is not a known family: read as a Llama-style decoder "
                            "(GQA attention, gated MLP, two norms per layer); check the facts")
        found = GENERIC, FAMILIES[GENERIC]
    _, fam = found
    n = c.int("num_hidden_layers", limit=LIMITS["num_hidden_layers"])
    hidden = c.int("hidden_size", limit=LIMITS["hidden_size"])
    if fam.attention_free:
        # No attention anywhere: no heads, no KV cache (vLLM's head size of an attention-free
        # model is 0). Mamba2's `num_heads` are the mixer's heads, read by its mixer.
        heads = kv = hd = 0
    else:
        heads = c.int("num_attention_heads", limit=LIMITS["num_attention_heads"])
        kv = kv_heads(c, heads)
        hd = head_dim(c, hidden, heads)
    vocab = c.int("vocab_size", limit=LIMITS["vocab_size"])
    fallback = (c.int(fam.intermediate_fallback, limit=LIMITS["intermediate_size"])
                if fam.intermediate_fallback and not c.has("intermediate_size") else None)
    if fam.ffn_rule == "none" and fallback is None:
        fallback = 0   # no MLP: the config may not give an intermediate size (Mamba2)
    inter = c.int("intermediate_size", fallback, minimum=0 if fam.ffn_rule == "none" else 1,
                  limit=LIMITS["intermediate_size"])
    tie = c.bool("tie_word_embeddings", fam.tie)
    if kv and heads % kv:
        raise FactsError(f"num_attention_heads {heads} is not a multiple of the {kv} KV heads",
                         key="num_key_value_heads")
    kinds = _attention_kinds(c, fam, n)
    has_ffn = FFN_RULES[fam.ffn_rule](c, n)
    attn_bias = c.bool("attention_bias", fam.attention_bias)
    qkv_bias = attn_bias if fam.qkv_bias is None else fam.qkv_bias
    o_bias = attn_bias if fam.o_bias is None else fam.o_bias
    moe = _moe_rule(c, fam, n, inter)
    gated_q = c.bool("attn_output_gate", fam.gated_q)
    ssm_fp32 = _ssm_fp32(c, fam)
    mla = None
    cross = _cross_layers(c, n) if fam.cross_layers else set()
    layers: list[Layer] = []
    for i in range(n):
        p = f"{fam.layer_prefix}{i}."
        t: list[Tensor] = [_v(f"{p}norm{j}", hidden) for j in range(fam.norms)]
        a = p + fam.attn_prefix
        kind, window = kinds[i]
        state = None
        index_key = 0
        if kind == "mamba":
            attn, state = MIXERS[fam.linear](c, fam, p + fam.mixer_prefix, hidden)
        elif kind == "none":
            attn = []
        elif kind == "mla":
            attn, mla, index_key = _mla(c, a, hidden, heads, fam.sparse_indexer)
        elif i in cross:
            # vLLM's MllamaCrossAttentionDecoderLayer: q from the text, k/v from the vision
            # states (already projected to `hidden`), per-head q/k norms; two scalar gates.
            attn = _attention(p + "cross_attn.", hidden, heads, kv, hd, qkv_bias=False, o_bias=False, qk_norm="head")
            attn += [_v(p + "cross_attn_attn_gate", 1), _v(p + "cross_attn_mlp_gate", 1)]
        else:
            attn = _attention(a, hidden, heads, kv, hd, qkv_bias=qkv_bias, o_bias=o_bias, qk_norm=fam.qk_norm,
                              fused=fam.fused_qkv, sinks=fam.sinks)
            if gated_q:   # the output gate doubles q_proj's rows
                attn = [Tensor(x.name, 2 * heads * hd, x.cols) if x.name == a + "q_proj" else x for x in attn]
            if fam.parallel_mixer:   # Falcon-H1: the Mamba2 mixer beside attention
                mixed, state = MIXERS[fam.linear](c, fam, p + fam.mixer_prefix, hidden)
                attn += mixed
        t += attn
        is_moe, ffn = moe.layer(i, p + fam.ffn_prefix, hidden) if has_ffn[i] else (False, [])
        t += ffn
        if i == 0 and fam.extra_embedding_rows:   # vocab-parallel, held with the first layer
            t.append(Tensor("model.embed_tokens.extra_rows", fam.extra_embedding_rows, hidden, quantizable=False))
        if kind == "mla":
            assert mla is not None, "only the MLA families above give layers of kind mla"
            shape = (1, mla.kv_lora_rank + mla.qk_rope_head_dim, 0)
        elif kind in ("mamba", "none"):
            shape = (0, 0, 0)
        else:
            shape = (kv, hd, hd)
        if state is None:
            layers.append(Layer(kind, window, *shape, is_moe, tuple(t), index_key_bytes=index_key))
        else:
            layers.append(Layer(kind, window, *shape, is_moe, tuple(t), state.conv, state.ssm, ssm_fp32, state.groups,
                                state.conv_per_group, fam.linear, state.heads, state.width,
                                group_tensors=state.group_tensors, index_key_bytes=index_key))
    moe_facts = _moe_facts(c, moe, layers)
    mtp: list[Layer] = []
    for j in range(_mtp_count(c, n)):
        # One MTP module: the decoder layer vLLM builds at index n + j (full attention, the
        # family's FFN rule at that index), plus the input norms and the projection that fuses
        # the previous hidden state with the next token's embedding. Embeddings and lm_head are
        # the target's (vLLM's EAGLE/MTP proposer shares them).
        p = f"mtp.layers.{n + j}."
        t = [_v(f"{p}norm{k}", hidden) for k in range(fam.norms)]
        index_key = 0
        if fam.attention == "mla":
            # vLLM builds the MTP layer's indexer too (deepseek_v2.py: "MTP/nextn layers ...
            # always build a full indexer").
            attn, _, index_key = _mla(c, p + "self_attn.", hidden, heads, fam.sparse_indexer)
            shape = (1, (mla.kv_lora_rank + mla.qk_rope_head_dim) if mla else hd, 0)
            mtp_kind: AttentionKind = "mla"
            fuse = [Tensor(p + "eh_proj", hidden, 2 * hidden, "replicated")]   # a plain nn.Linear in vLLM
        else:
            attn = _attention(p + "self_attn.", hidden, heads, kv, hd, qkv_bias=qkv_bias, o_bias=o_bias,
                              qk_norm=fam.qk_norm, fused=fam.fused_qkv, sinks=fam.sinks)
            if gated_q:
                attn = [Tensor(x.name, 2 * heads * hd, x.cols) if x.name.endswith("q_proj") else x for x in attn]
            shape, mtp_kind = (kv, hd, hd), "full"
            fuse = [Tensor(p + "fc", hidden, 2 * hidden)]                      # column-parallel in vLLM
        _, ffn = moe.layer(n + j, p + fam.ffn_prefix, hidden)
        t += attn + ffn + fuse + [_v(p + "enorm", hidden), _v(p + "hnorm", hidden), _v(p + "final_norm", hidden)]
        mtp.append(Layer(mtp_kind, None, *shape, any(x.part == "expert" for x in ffn), tuple(t),
                         index_key_bytes=index_key))
    if mla:
        kv, hd = 1, mla.kv_lora_rank + mla.qk_rope_head_dim
    return Arch(model_type=model_type, num_layers=n, hidden=hidden, heads=heads, kv_heads=kv, head_dim=hd,
                intermediate=inter, vocab=vocab, tie=tie, layers=tuple(layers), mla=mla, moe=moe_facts,
                warnings=tuple(warnings), mtp_layers=tuple(mtp), lm_head_fp32=fam.lm_head_fp32)


def _ssm_fp32(c: Config, fam: Family) -> bool:
    """Whether vLLM keeps the SSM / recurrent state in fp32 under `--mamba-ssm-cache-dtype auto`:
    where the config's `mamba_ssm_dtype` says float32 (Qwen3.5); Nemotron-H takes its config's
    `mamba_ssm_cache_dtype`, float32 when absent (NemotronHForCausalLMConfig)."""
    if fam.ssm_fp32 == "always":
        return True
    if fam.ssm_fp32 == "nemotron_h":
        return str(c.raw("mamba_ssm_cache_dtype", "float32")).removeprefix("torch.") == "float32"
    return str(c.raw("mamba_ssm_dtype", "")).removeprefix("torch.") == "float32"


def _every_ffn(c: Config, n: int) -> list[bool]:
    return [True] * n


def _nemotron_ffn(c: Config, n: int) -> list[bool]:
    return [ch in "-E" for ch in _nemotron_pattern(c, n)]


def _no_ffn(c: Config, n: int) -> list[bool]:
    return [False] * n


FFN_RULES: dict[str, Callable[[Config, int], list[bool]]] = {"every": _every_ffn, "nemotron_pattern": _nemotron_ffn,
                                                              "none": _no_ffn}


def _mtp_count(c: Config, n: int) -> int:
    """DeepSeek / GLM `num_nextn_predict_layers`, Qwen3-Next / Qwen3.5 `mtp_num_hidden_layers`."""
    for key in ("num_nextn_predict_layers", "mtp_num_hidden_layers"):
        if c.has(key):
            return c.int(key, minimum=0, limit=LIMITS["num_hidden_layers"])
    return 0


def _experts(c: Config, *keys: str) -> int | None:
    for key in keys:
        if c.has(key):
            return c.int(key, limit=LIMITS["experts"], minimum=0, aliases=(key,)) or None
    return None


@dataclass(frozen=True, slots=True)
class MoeRule:
    """What a family's MoE rule yields: the FFN of each layer, and the sizes `MoeFacts` reports."""

    layer: Callable[[int, str, int], tuple[bool, list[Tensor]]]   # (index, prefix, hidden) -> (is_moe, FFN)
    experts: int | None = None
    expert_intermediate: int = 0
    shared_intermediate: int = 0
    gated: bool = True           # experts with gate and up projections (False: one up projection)


def _dense_rule(c: Config, fam: Family, n: int, inter: int, experts: int) -> MoeRule:
    mlp_bias = c.bool("mlp_bias", False)
    return MoeRule(lambda i, p, h: (False, _mlp(p, h, inter, bias=mlp_bias, fused=fam.fused_gate_up)))


def _deepseek_moe(c: Config, fam: Family, n: int, inter: int, experts: int) -> MoeRule:
    first = c.int("first_k_dense_replace", 0, minimum=0, limit=n)
    freq = c.int("moe_layer_freq", 1, limit=n)
    e_inter = c.int("moe_intermediate_size", limit=LIMITS["intermediate_size"])
    shared = c.int("n_shared_experts", 0, minimum=0, limit=LIMITS["experts"]) * e_inter
    biased = c.str("topk_method", "") == "noaux_tc"

    def rule(i, p, h):
        if i < first or i % freq:
            return False, _mlp(p, h, inter)
        out = _router(p + "gate", experts, h)
        if biased:  # routing correction bias, kept in fp32 by vLLM
            out.append(_v(p + "gate.e_score_correction_bias", experts, elem_bytes=4))
        out += _mlp(p + "experts.", h, e_inter, part="expert", copies=experts)
        return True, out + (_mlp(p + "shared_experts.", h, shared) if shared else [])
    return MoeRule(rule, experts, e_inter, shared)


def _qwen_moe(c: Config, fam: Family, n: int, inter: int, experts: int) -> MoeRule:
    step = c.int("decoder_sparse_step", 1, limit=n)
    dense_only = set(c.list("mlp_only_layers") or [])
    e_inter = c.int("moe_intermediate_size", limit=LIMITS["intermediate_size"])
    shared = c.int("shared_expert_intermediate_size", 0, minimum=0, limit=LIMITS["intermediate_size"])

    def rule(i, p, h):
        if i in dense_only or (i + 1) % step:
            return False, _mlp(p, h, inter)
        out = _router(p + "gate", experts, h) + _mlp(p + "experts.", h, e_inter, part="expert", copies=experts)
        if shared:
            out += _mlp(p + "shared_expert.", h, shared) + _router(p + "shared_expert_gate", 1, h)
        return True, out
    return MoeRule(rule, experts, e_inter, shared)


def _llama4_moe(c: Config, fam: Family, n: int, inter: int, experts: int) -> MoeRule:
    step = c.int("interleave_moe_layer_step", 1, minimum=0, limit=n)
    listed = c.list("moe_layers")
    moe_layers = set(listed) if listed is not None else {i for i in range(n) if step and (i + 1) % step == 0}
    dense = c.int("intermediate_size_mlp", inter, limit=LIMITS["intermediate_size"])

    def rule(i, p, h):
        if i not in moe_layers:
            return False, _mlp(p, h, dense)
        return True, (_router(p + "router", experts, h)
                      + _mlp(p + "experts.", h, inter, part="expert", copies=experts)
                      + _mlp(p + "shared_expert.", h, inter))
    return MoeRule(rule, experts, inter, inter)


def _gpt_oss_moe(c: Config, fam: Family, n: int, inter: int, experts: int) -> MoeRule:
    return MoeRule(lambda i, p, h: (True, _router(p + "router", experts, h, bias=True)
                                    + _mlp(p + "experts.", h, inter, fused=True, bias=True, part="expert",
                                           copies=experts)), experts, inter, 0)


def _mixtral_moe(c: Config, fam: Family, n: int, inter: int, experts: int) -> MoeRule:
    """Mixtral and MoE configs of unknown families: every layer routes over `intermediate_size` experts."""
    e_inter = c.int("moe_intermediate_size", inter, limit=LIMITS["intermediate_size"])
    return MoeRule(lambda i, p, h: (True, _router(p + "block_sparse_moe.gate", experts, h)
                                    + _mlp(p + "block_sparse_moe.experts.", h, e_inter, part="expert",
                                           copies=experts, names=("w1", "w3", "w2"))), experts, e_inter, 0)


def _granite_moe(c: Config, fam: Family, n: int, inter: int, experts: int) -> MoeRule:
    """Granite-4.0-H: routed experts with fused input_linear (gate + up) when the config counts
    any, plus the shared MLP of `shared_intermediate_size` (the whole FFN of the dense H-Micro)."""
    shared = c.int("shared_intermediate_size", 0, minimum=0, limit=LIMITS["intermediate_size"])

    def rule(i, p, h):
        out: list[Tensor] = []
        if experts:
            out += _router(p + "block_sparse_moe.router.layer", experts, h)
            out += [Tensor(p + "block_sparse_moe.input_linear", 2 * inter, h, "expert", experts),
                    Tensor(p + "block_sparse_moe.output_linear", h, inter, "expert", experts)]
        if shared:
            out += [Tensor(p + "shared_mlp.input_linear", 2 * shared, h),
                    Tensor(p + "shared_mlp.output_linear", h, shared)]
        return bool(experts), out
    return MoeRule(rule, experts or None, inter if experts else 0, shared)


def _nemotron_moe(c: Config, fam: Family, n: int, inter: int, experts: int) -> MoeRule:
    """Nemotron-H: "-" layers hold a squared-ReLU MLP (up, down); "E" layers route over
    non-gated experts of `moe_intermediate_size` (fp32 correction bias) beside a shared expert."""
    pattern = _nemotron_pattern(c, n)
    mlp_bias = c.bool("mlp_bias", False)
    if c.has("moe_latent_size"):
        raise FactsError("Nemotron-H latent experts (`moe_latent_size`) are not modelled", key="moe_latent_size",
                         fix="state the architecture by hand under model.facts")
    e_inter = c.int("moe_intermediate_size", inter, limit=LIMITS["intermediate_size"]) if experts else 0
    shared = c.int("moe_shared_expert_intermediate_size", 0, minimum=0, limit=LIMITS["intermediate_size"])

    def plain(p, h, width, part="sharded", copies=1):
        out = [Tensor(p + "up_proj", width, h, part, copies), Tensor(p + "down_proj", h, width, part, copies)]
        if mlp_bias and part != "expert":
            out += [_v(p + "up_proj.bias", width, "sharded"), _v(p + "down_proj.bias", h)]
        return out

    def rule(i, p, h):
        if pattern[i] != "E" or not experts:
            return False, plain(p, h, inter)
        out = _router(p + "gate", experts, h) + [_v(p + "gate.e_score_correction_bias", experts, elem_bytes=4)]
        out += plain(p + "experts.", h, e_inter, "expert", experts)
        return True, out + (plain(p + "shared_experts.", h, shared) if shared else [])
    return MoeRule(rule, experts or None, e_inter, shared, gated=False)


def _jamba_moe(c: Config, fam: Family, n: int, inter: int, experts: int) -> MoeRule:
    """Jamba: experts where (i - expert_layer_offset) % expert_layer_period == 0, a dense MLP elsewhere."""
    period = c.int("expert_layer_period", 2, limit=n)
    offset = c.int("expert_layer_offset", 1, minimum=0, limit=n)

    def rule(i, p, h):
        if experts <= 1 or i % period != offset % period:
            return False, _mlp(p, h, inter)
        return True, _router(p + "router", experts, h) + _mlp(p + "experts.", h, inter, part="expert", copies=experts)
    return MoeRule(rule, experts, inter, 0)


def _kimi_moe(c: Config, fam: Family, n: int, inter: int, experts: int) -> MoeRule:
    """Kimi Linear (KimiMoE): experts from `first_k_dense_replace` on, every `moe_layer_freq`-th
    layer, behind a router whose correction bias is built in the model dtype; the shared
    experts form one MLP of num_shared_experts x moe_intermediate_size."""
    first = c.int("first_k_dense_replace", 0, minimum=0, limit=n)
    freq = c.int("moe_layer_freq", 1, limit=n)
    e_inter = c.int("moe_intermediate_size", limit=LIMITS["intermediate_size"])
    shared = c.int("num_shared_experts", 0, minimum=0, limit=LIMITS["experts"]) * e_inter

    def rule(i, p, h):
        if i < first or i % freq:
            return False, _mlp(p + "mlp.", h, inter)
        out = _router(p + "block_sparse_moe.gate", experts, h) + [_v(p + "block_sparse_moe.gate.e_score_correction_bias",
                                                                     experts)]
        out += _mlp(p + "block_sparse_moe.experts.", h, e_inter, part="expert", copies=experts, names=("w1", "w3", "w2"))
        return True, out + (_mlp(p + "block_sparse_moe.shared_experts.", h, shared) if shared else [])
    return MoeRule(rule, experts, e_inter, shared)


def _minimax_moe(c: Config, fam: Family, n: int, inter: int, experts: int) -> MoeRule:
    """MiniMax-Text-01 (MiniMaxText01MoE): every layer routes over `num_local_experts` experts of
    `intermediate_size` (w1/w3/w2) behind a router vLLM builds in fp32; with one expert a layer
    holds a plain MLP. A `shared_intermediate_size` adds a shared MLP and its one-row coefficient."""
    shared = c.int("shared_intermediate_size", 0, minimum=0, limit=LIMITS["intermediate_size"])

    def rule(i, p, h):
        if experts <= 1:
            return False, _mlp(p + "mlp.", h, inter)
        m = p + "block_sparse_moe."
        out = [Tensor(m + "gate", experts, h, "replicated", quantizable=False, elem_bytes=4)]
        out += _mlp(m + "experts.", h, inter, part="expert", copies=experts, names=("w1", "w3", "w2"))
        if shared:
            out += _mlp(p + "shared_mlp.", h, shared) + [Tensor(p + "coefficient", 1, h, "replicated")]
        return True, out
    return MoeRule(rule, experts, inter, shared)


MOE_RULES: dict[str, Callable[[Config, Family, int, int, int], MoeRule]] = {
    "deepseek": _deepseek_moe, "qwen": _qwen_moe, "llama4": _llama4_moe, "gpt_oss": _gpt_oss_moe,
    "mixtral": _mixtral_moe, "granite": _granite_moe, "nemotron_h": _nemotron_moe, "jamba": _jamba_moe,
    "kimi": _kimi_moe, "minimax": _minimax_moe}
# Rules that also lay out the FFN of a config without routed experts.
DENSE_AWARE = ("granite", "nemotron_h")


def _moe_rule(c: Config, fam: Family, n: int, inter: int) -> MoeRule:
    experts = _experts(c, "n_routed_experts", "num_local_experts", "num_experts")
    if experts is None and fam.moe in DENSE_AWARE:
        return MOE_RULES[fam.moe](c, fam, n, inter, 0)
    if experts is None:
        return _dense_rule(c, fam, n, inter, 0)
    return MOE_RULES[fam.moe](c, fam, n, inter, experts)


def _moe_facts(c: Config, rule: MoeRule, layers: list[Layer]) -> MoeFacts | None:
    moe_layers = [layer for layer in layers if layer.is_moe]
    if not moe_layers or rule.experts is None:
        return None
    top_k = c.int("num_experts_per_tok", limit=rule.experts, aliases=("num_experts_per_tok", "experts_per_token",
                                                                                 "num_experts_per_token"))
    first = next(i for i, layer in enumerate(layers) if layer.is_moe)
    return MoeFacts(num_experts=rule.experts, experts_per_token=top_k, expert_intermediate_size=rule.expert_intermediate,
                    shared_expert_intermediate_size=rule.shared_intermediate, first_dense_layers=first,
                    moe_layer_count=len(moe_layers), gated=rule.gated)
