"""DeepSeek-V3.2 (deepseek_v32): DeepSeek-V3's MLA + MoE layers plus the lightning indexer of
DeepSeek Sparse Attention in every layer, as vLLM's deepseek_v2.py `Indexer` builds it."""
from __future__ import annotations

import pytest
from models_support import load

from vllm_compile.resolve.models import facts_from_config
from vllm_compile.resolve.models.config import FactsError

V3, V32 = "deepseek-ai/DeepSeek-V3", "deepseek-ai/DeepSeek-V3.2"
H, Q_LORA, HEADS, HEAD_DIM = 7168, 1536, 64, 128


def facts(model_id: str, **changes):
    return facts_from_config(load(model_id) | changes, model_id=model_id, source="catalog")


def fp8(rows: int, cols: int) -> int:    # 1 byte per weight + one fp32 scale per 128x128 block
    return rows * cols + -(-rows // 128) * -(-cols // 128) * 4


# wq_b (q latent -> 64 heads x 128), wk (hidden -> 128), k_norm weight + bias, weights_proj (hidden -> 64)
INDEXER_PARAMS = HEADS * HEAD_DIM * Q_LORA + HEAD_DIM * H + 2 * HEAD_DIM + HEADS * H
# wq_b and wk block-fp8 like the checkpoint; weights_proj bf16 (quant_config=None); k_norm fp32
INDEXER_BYTES = fp8(HEADS * HEAD_DIM, Q_LORA) + fp8(HEAD_DIM, H) + 2 * HEAD_DIM * 4 + HEADS * H * 2


def test_each_layer_is_a_v3_layer_plus_its_replicated_indexer():
    v3, v32 = facts(V3), facts(V32)
    assert v32.model_type == "deepseek_v32" and v32.architecture == "DeepseekV32ForCausalLM"
    assert not any("not a known family" in w for w in v32.warnings)
    assert len(v32.layers) == 61 and v32.moe == v3.moe and v32.quantization == v3.quantization
    for old, new in zip(v3.layers, v32.layers, strict=True):
        assert new.parameters - old.parameters == INDEXER_PARAMS == 13_959_424
        # The indexer is replicated on every TP rank ("no tensor parallel, just replicated").
        assert new.replicated_bytes - old.replicated_bytes == INDEXER_BYTES
        assert (new.sharded_bytes, new.expert_bytes) == (old.sharded_bytes, old.expert_bytes)
        # Its key cache: 128 fp8 values + one fp32 scale per 128 = 132 bytes per token.
        assert new.index_key_bytes == 132 and old.index_key_bytes == 0
    assert v32.parameters == v3.parameters + 61 * INDEXER_PARAMS == 671_877_944_064
    assert v32.mla.sparse and not v3.mla.sparse
    assert (v32.mla.index_topk, v32.mla.index_n_heads, v32.mla.index_head_dim) == (2048, 64, 128)


def test_the_mtp_layer_has_its_own_indexer():
    v3, v32 = facts(V3), facts(V32)
    (old,), (new,) = v3.mtp_layers, v32.mtp_layers
    assert new.parameters - old.parameters == INDEXER_PARAMS and new.index_key_bytes == 132
    # Published: 685B with the MTP module, whose own embedding and head copies count there.
    assert round((v32.parameters + new.parameters + 2 * 129280 * H) / 1e9) == 685


def test_a_bigger_indexer_in_the_config_is_counted_from_it():
    wide = facts(V32, index_n_heads=32, index_head_dim=256)
    assert wide.layers[0].index_key_bytes == 256 + 2 * 4
    assert wide.layers[0].parameters - facts(V3).layers[0].parameters == \
        32 * 256 * Q_LORA + 256 * H + 2 * 256 + 32 * H


@pytest.mark.parametrize("changes,key", [({"q_lora_rank": None}, "q_lora_rank"), ({"index_topk": None}, "index_topk")])
def test_an_indexer_without_its_inputs_is_a_facts_error(changes, key):
    config = {k: v for k, v in load(V32).items() if k not in changes}
    with pytest.raises(FactsError) as err:
        facts_from_config(config, model_id=V32, source="catalog")
    assert err.value.key == key
