"""Weight bytes per quantization layout, against the stored-tensor formulas of reference §3.2."""
from __future__ import annotations

import pytest
from models_support import load

from vllm_compile.resolve.models import FactsError, facts_from_config

LLAMA2_LINEARS = 4 * 4096 * 4096 + 3 * 4096 * 11008          # q,k,v,o + gate,up,down per layer


def llama2_16bit_rest() -> int:
    return 2 * (2 * 32000 * 4096 + 32 * 2 * 4096 + 4096)     # untied embed + lm_head, norms


def test_awq_packed_int4_with_group_scales_and_zeros():
    f = facts_from_config(load("twhoool02/Llama-2-7b-chat-hf-AWQ"), model_id="t/awq", source="t")
    assert (f.quantization.method, f.quantization.bits, f.quantization.group_size) == ("awq", 4, 128)
    # per weight: 4 bits packed + fp16 scale and 4-bit zero per group of 128
    per_layer = LLAMA2_LINEARS // 2 + LLAMA2_LINEARS // 128 * 2 + LLAMA2_LINEARS // 128 // 2
    assert f.weight_bytes == 32 * per_layer + llama2_16bit_rest()
    assert f.parameters == 6_738_415_616                      # logical count is the unquantized one


def test_gptq_act_order_adds_g_idx():
    base = load("meta-llama/Llama-2-7b-hf")
    q = {"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": False}
    plain = facts_from_config(base | {"quantization_config": q}, model_id="t/g", source="t")
    ordered = facts_from_config(base | {"quantization_config": q | {"desc_act": True}}, model_id="t/g", source="t")
    inputs = 4 * 4096 + 2 * 4096 + 11008                       # input features of the 7 linears
    assert ordered.weight_bytes - plain.weight_bytes == 32 * inputs * 4
    assert ordered.quantization.desc_act


def test_fp8_block_and_exclusions():
    f = facts_from_config(load("Qwen/Qwen3-32B-FP8"), model_id="t/f", source="t")
    h, i, hd = 5120, 25600, 128

    def fp8(rows, cols):
        return rows * cols + -(-rows // 128) * -(-cols // 128) * 4
    linears = fp8(64 * hd, h) + 2 * fp8(8 * hd, h) + fp8(h, 64 * hd) + 2 * fp8(i, h) + fp8(h, i)
    assert f.layers[0].sharded_bytes == linears
    assert f.lm_head_bytes_per_row == f.embedding_bytes_per_row == h * 2


def test_modelopt_fp8_from_hf_quant_config():
    import json
    from models_support import CATALOG
    quant = json.loads((CATALOG / "nvidia/Llama-3.1-70B-Instruct-FP8/hf_quant_config.json").read_text())
    f = facts_from_config(load("nvidia/Llama-3.1-70B-Instruct-FP8"), model_id="t/m", source="t", quant_config=quant)
    assert f.quantization.method == "modelopt" and f.quantization.excluded_modules == ("lm_head",)
    linears = 64 * 128 * 8192 * 2 + 2 * 8 * 128 * 8192 + 3 * 28672 * 8192
    assert f.layers[0].sharded_bytes == linears + 7 * 8       # fp32 weight + input scale per linear


def test_bitsandbytes_in_flight_and_online_fp8():
    cfg = load("meta-llama/Llama-3.1-8B-Instruct")
    h, i = 4096, 14336
    numel = 32 * 128 * h * 2 + 2 * 8 * 128 * h + 3 * i * h
    bnb = facts_from_config(cfg, model_id="t/b", source="t", quantization="bitsandbytes")
    assert bnb.quantization.method == "bitsandbytes" and not bnb.quantization.prequantized
    # vLLM quantizes in flight with compress_statistics=True (double quant): per linear, one
    # uint8 absmax per 64 weights, one fp32 absmax per 256 of those, and an fp32 offset.
    blocks = {"q/o": 4096 * 4096 // 64, "k/v": 1024 * 4096 // 64, "mlp": 14336 * 4096 // 64}
    assert blocks == {"q/o": 262_144, "k/v": 65_536, "mlp": 917_504}
    statistics = (2 * (262_144 + 1024 * 4 + 4) + 2 * (65_536 + 256 * 4 + 4)
                  + 3 * (917_504 + 3584 * 4 + 4))
    assert bnb.layers[0].sharded_bytes == numel // 2 + statistics
    # From 0.9.2 vLLM dequantizes that absmax to fp32 at load: 4 bytes per block replace the
    # uint8 absmax, the second-level fp32 scales and the offset.
    fp32 = 4 * (2 * 262_144 + 2 * 65_536 + 3 * 917_504)
    assert bnb.layers[0].absmax_growth == (fp32 - statistics, 0, 0)
    fp8 = facts_from_config(cfg, model_id="t/b", source="t", quantization="fp8")
    assert fp8.layers[0].sharded_bytes == numel + 7 * 4
    assert fp8.embedding_bytes_per_row == h * 2


def test_compressed_tensors_w4a16():
    q = {"quant_method": "compressed-tensors", "format": "pack-quantized", "ignore": ["lm_head"],
         "config_groups": {"group_0": {"targets": ["Linear"], "weights": {
             "num_bits": 4, "type": "int", "strategy": "group", "group_size": 128, "symmetric": True}}}}
    f = facts_from_config(load("meta-llama/Llama-2-7b-hf") | {"quantization_config": q}, model_id="t/c", source="t")
    assert f.weight_bytes == 32 * (LLAMA2_LINEARS // 2 + LLAMA2_LINEARS // 128 * 2) + llama2_16bit_rest()


def test_spec_quantization_must_fit_the_checkpoint():
    awq = load("twhoool02/Llama-2-7b-chat-hf-AWQ")
    assert facts_from_config(awq, model_id="t/a", source="t", quantization="awq_marlin").quantization.method == "awq"
    with pytest.raises(FactsError) as err:
        facts_from_config(awq, model_id="t/a", source="t", quantization="fp8")
    assert err.value.key == "model.quantization" and "awq" in err.value.message
    with pytest.raises(FactsError):
        facts_from_config(load("meta-llama/Llama-2-7b-hf"), model_id="t/a", source="t", quantization="gptq")
