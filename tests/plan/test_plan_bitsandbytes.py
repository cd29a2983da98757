"""bitsandbytes 4-bit as vLLM loads and runs it: the double-quantized absmax per release, the
refusal of tensor parallelism for pre-quantized checkpoints, the shard the forward pass
dequantizes. Figures worked by hand from the tensor shapes (Llama-3.1-8B: 32 layers; per layer
2 x 4096x4096, 2 x 1024x4096, 3 x 14336x4096)."""
from __future__ import annotations

import json

from plan_support import CONFIGS, LLAMA_8B, gpu
from vllm_compile.ir.plan import PlanRequest
from vllm_compile.plan import overheads, plan_deployment
from vllm_compile.resolve.models import facts_from_config

BLOCKS_PER_LAYER = (2 * 4096 * 4096 + 2 * 1024 * 4096 + 3 * 14336 * 4096) // 64   # 3,407,872
UINT8_STATISTICS = 2 * (262_144 + 1024 * 4 + 4) + 2 * (65_536 + 256 * 4 + 4) + 3 * (917_504 + 3584 * 4 + 4)


def _facts(double_quant: bool | None, prequantized: bool = True):
    config = json.loads((CONFIGS / LLAMA_8B / "config.json").read_text())
    if not prequantized:
        return facts_from_config(config, model_id="t/bnb", source="t", quantization="bitsandbytes")
    block = {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
             "bnb_4bit_use_double_quant": double_quant}
    return facts_from_config(config | {"quantization_config": block}, model_id="t/bnb", source="t")


def _predict(facts, version: str, tp: int = 1, pp: int = 1, gpu_name: str = "L4"):
    return plan_deployment(PlanRequest(vllm_version=version, model=facts, gpu=gpu(gpu_name), gpu_count=tp * pp,
                                       mode="predict", tensor_parallel_size=tp, pipeline_parallel_size=pp,
                                       max_model_len=4096))


def test_double_quant_absmax_is_fp32_from_0_9_2():
    growth = 32 * (4 * BLOCKS_PER_LAYER - UINT8_STATISTICS)
    assert (BLOCKS_PER_LAYER, UINT8_STATISTICS, growth) == (3_407_872, 3_461_148, 32 * 10_170_340)
    for facts in (_facts(True), _facts(None, prequantized=False)):
        before = _predict(facts, "0.9.1").per_gpu.weights_bytes
        after = _predict(facts, "0.9.2").per_gpu.weights_bytes
        assert after - before == growth
    # Without double quantization the checkpoint's absmax is fp32 already: no release difference.
    single = _facts(False)
    assert _predict(single, "0.9.1").per_gpu.weights_bytes == _predict(single, "0.9.2").per_gpu.weights_bytes
    # ... and equals the double-quantized checkpoint on a release that dequantizes it.
    assert _predict(single, "0.9.2").per_gpu.weights_bytes == _predict(_facts(True), "0.9.2").per_gpu.weights_bytes


def test_weights_of_a_double_quantized_checkpoint_before_0_9_2():
    # 4-bit linears 32 x (3,440,640 x 32 B packed + statistics); bf16 embedding and lm_head
    # 2 x 128,256 x 4096 x 2 B; norms 65 x 4096 x 2 B; rotary cache 131,072 x 128 x 2 B.
    linears = 32 * (BLOCKS_PER_LAYER * 32 + UINT8_STATISTICS)
    expected = linears + 2 * 128_256 * 4096 * 2 + 65 * 4096 * 2 + 131_072 * 128 * 2
    assert _predict(_facts(True), "0.7.3").per_gpu.weights_bytes == expected
    # 5.342 GiB; vLLM 0.7.2 logged 5.3541 GiB loading an Unsloth checkpoint of this layout (it
    # allocates the LoRA buffers after that figure).
    assert expected == 5_735_850_880


def test_prequantized_checkpoint_refuses_tensor_parallelism():
    p = _predict(_facts(True), "0.10.1", tp=2, gpu_name="T4")
    assert p.verdict == "invalid"
    assert p.reasons[0].startswith("Prequant BitsAndBytes models with tensor parallelism is not supported")
    assert dict(p.fixes[0].settings) == {"engine.tensor_parallel_size": 1, "engine.pipeline_parallel_size": 2}
    # Quantized at load, the same model splits over TP.
    assert _predict(_facts(None, prequantized=False), "0.10.1", tp=2, gpu_name="T4").verdict != "invalid"


def test_compile_keeps_a_prequantized_checkpoint_on_one_gpu_and_suggests_stages():
    req = PlanRequest(vllm_version="0.10.1", model=_facts(True), gpu=gpu("T4"), gpu_count=4, mode="compile",
                      max_model_len=131_072, concurrency=4)
    p = plan_deployment(req)
    assert p.tensor_parallel_size == 1
    assert not p.goal_met
    settings = [dict(f.settings) for f in p.fixes]
    assert any("engine.pipeline_parallel_size" in s for s in settings)
    assert not any("engine.tensor_parallel_size" in s for s in settings)


def _plain():
    return facts_from_config(json.loads((CONFIGS / LLAMA_8B / "config.json").read_text()), model_id="t/plain", source="t")


def _dequant(facts, version: str, tp: int = 1) -> int:
    """The activation a bnb checkpoint adds over the same model unquantized (V1: additive)."""
    return _predict(facts, version, tp).per_gpu.activation_bytes - _predict(_plain(), version, tp).per_gpu.activation_bytes


def test_forward_dequantizes_the_largest_shard_to_16_bits():
    # matmul_4bit on more than one token dequantizes each shard: gate_proj or up_proj, 14,336 x
    # 4096 x 2 B (bf16 checkpoint); before 0.9.2 a double-quantized absmax is decoded to fp32 first,
    # one per 64 weights (917,504 x 4 B).
    assert _dequant(_facts(True), "0.9.1") == 117_440_512 + 3_670_016
    assert _dequant(_facts(True), "0.9.2") == 117_440_512    # absmax dequantized at load
    assert _dequant(_facts(False), "0.9.1") == 117_440_512   # the checkpoint's absmax is fp32 already
    # Quantized at load (always double-quantized) over TP 2: half the shard's rows.
    assert _dequant(_facts(None, prequantized=False), "0.9.1", tp=2) == 58_720_256 + 1_835_008
    # A float16 checkpoint's dequantized shard is cast once more to the bfloat16 input.
    config = json.loads((CONFIGS / LLAMA_8B / "config.json").read_text()) | {"torch_dtype": "float16"}
    fp16 = facts_from_config(config, model_id="t/fp16", source="t", quantization="bitsandbytes")
    assert overheads.bnb_dequant_bytes(fp16, 1, nested_absmax=False) == 2 * 117_440_512
    assert overheads.bnb_dequant_bytes(_plain(), 1, nested_absmax=True) == 0
