"""Weights as vLLM's load-time kernels lay them out: MXFP4 MoE backend padding and the MLA
decode matrices. Expected values are derived by hand from the tensor shapes vLLM allocates
(mxfp4.py create_weights; MLA process_weights_after_loading) and checked against measured
"Model loading took" figures from bench/data/calibration."""
from __future__ import annotations

import json
from pathlib import Path

from plan_support import DEEPSEEK_V3, GIB, GPT_OSS_20B, facts, gpu, plan
from vllm_compile.plan import weights

GPT_OSS_120B = "openai/gpt-oss-120b"
DEEPSEEK_R1 = "deepseek-ai/DeepSeek-R1"
CALIBRATION = Path(__file__).resolve().parents[2] / "bench" / "data" / "calibration" / "vllm-startups.jsonl"


def _measured(case_id: str) -> float:
    for line in CALIBRATION.read_text().splitlines():
        case = json.loads(line)
        if case["id"] == case_id:
            return case["measured"]["weights_gib"]
    raise KeyError(case_id)


def test_backend_choice_by_gpu_and_release():
    marlin, flashinfer, triton = (128, 256), (256, 256), (64, 1)
    assert weights.load_kernels("0.10.1", gpu("H100")).mxfp4_pad == marlin    # no triton_kernels yet
    assert weights.load_kernels("0.11.1", gpu("H100")).mxfp4_pad == triton
    assert weights.load_kernels("0.30.0", gpu("A100-SXM-80GB")).mxfp4_pad == marlin  # below SM90
    assert weights.load_kernels("0.30.0", gpu("L40S")).mxfp4_pad == marlin
    assert weights.load_kernels("0.30.0", gpu("B200")).mxfp4_pad == flashinfer
    assert weights.load_kernels("0.7.3", None).mla_absorbed
    assert not weights.load_kernels("0.8.0", None).mla_absorbed
    # Ampere and Ada: Marlin in every release that has MXFP4 (mxfp4.py from 0.10.1 on).
    for version in ("0.10.1", "0.11.1", "0.18.0", "0.25.0", "0.33.0"):
        for card in ("RTX 3090", "A100-SXM-80GB", "L40S"):
            assert weights.load_kernels(version, gpu(card)).mxfp4_pad == marlin, (version, card)
    # Only the Triton path keeps the expert biases in fp32.
    assert weights.load_kernels("0.11.1", gpu("H100")).mxfp4_bias_bytes == 4
    assert [weights.load_kernels(v, gpu(c)).mxfp4_bias_bytes for v, c in
            (("0.10.1", "H100"), ("0.30.0", "A100-SXM-80GB"), ("0.30.0", "B200"))] == [2, 2, 2]


def test_mxfp4_marlin_pads_gpt_oss_120b_experts():
    f = facts(GPT_OSS_120B)
    # Marlin: intermediate 2880 -> 2944 (multiple of 128), hidden 2880 -> 3072 (multiple of 256).
    # w13 2 x 2944 x 3072 + w2 3072 x 2944 = 27,131,904 e2m1 values = 13,565,952 B + 847,872 B of
    # e8m0 scales, + bf16 biases (2 x 2944 + 3072) x 2 = 17,920 B; x 128 experts.
    per_layer = 128 * (13_565_952 + 847_872 + 17_920)
    assert per_layer == 1_847_263_232
    assert weights.mxfp4_expert_bytes(f, 1, False, (128, 256)) == per_layer
    # TP 2: each rank's intermediate slice 1440 is padded to 1536; hidden still 3072.
    assert weights.mxfp4_expert_bytes(f, 2, False, (128, 256)) == 128 * (
        3 * 1536 * 3072 // 2 + 3 * 1536 * 3072 // 32 + (2 * 1536 + 3072) * 2)
    # Triton (64-aligned, hidden untouched): exactly the checkpoint's experts, biases included.
    assert weights.mxfp4_expert_bytes(f, 1, False, (64, 1)) == f.layers[0].expert_bytes


def test_gpt_oss_120b_weights_match_the_logged_load_on_0_10_1():
    measured = _measured("vllm23278-h100-gpt-oss-120b-default")       # 65.9651 GiB, H100, 0.10.1
    p = plan(GPT_OSS_120B, "H100", 1, version="0.10.1", mode="predict", tensor_parallel_size=1)
    assert abs(p.per_gpu.weights_bytes / GIB / measured - 1) < 0.005
    # The same checkpoint on the Triton backend loads 36 layers x the padding less, and its
    # expert biases in fp32: 128 x (2 x 2880 + 2880) x 2 more bytes per layer.
    later = plan(GPT_OSS_120B, "H100", 1, version="0.11.1", mode="predict", tensor_parallel_size=1)
    f = facts(GPT_OSS_120B)
    fp32_biases = 128 * (2 * 2880 + 2880) * 2
    assert weights.mxfp4_expert_bytes(f, 1, False, (64, 1), 4) == f.layers[0].expert_bytes + fp32_biases
    assert p.per_gpu.weights_bytes - later.per_gpu.weights_bytes == 36 * (
        1_847_263_232 - f.layers[0].expert_bytes - fp32_biases)


def test_gpt_oss_20b_on_the_triton_kernels_matches_the_gptoss_image_on_an_rtx_3090():
    # vllm-project/vllm#22331 (comment of 2025-08-11): vllm/vllm-openai:gptoss, the pre-release
    # image, on one RTX 3090: "Model loading took 12.8848 GiB". That image ran Ampere on the
    # Triton kernels: experts as the checkpoint lays them out (intermediate 2880 is already
    # 64-aligned, hidden untouched) with fp32 biases. Released vLLM pads them for Marlin instead.
    measured = 12.8848
    f = facts(GPT_OSS_20B)
    triton = weights.rank_weight_bytes(f, 1, 1, 0, kernels=weights.LoadKernels(mxfp4_pad=(64, 1), mxfp4_bias_bytes=4))
    assert abs(triton / GIB / measured - 1) < 0.005
    # Every release picks Marlin there: intermediate 2880 -> 2944, hidden 2880 -> 3072 (+6 %).
    marlin = plan(GPT_OSS_20B, "RTX 3090", 1, version="0.10.1", mode="predict", tensor_parallel_size=1,
                  max_model_len=8192).per_gpu.weights_bytes
    assert marlin - triton == 24 * (weights.mxfp4_expert_bytes(f, 1, False, (128, 256))
                                    - weights.mxfp4_expert_bytes(f, 1, False, (64, 1), 4))
    assert 1.05 < marlin / GIB / measured < 1.07


def test_v0_mla_materialises_absorbed_fp8_matrices():
    f = facts(DEEPSEEK_R1)
    # TP 8: 16 heads per rank, kv_lora_rank 512, q_lora_rank 1536, hidden 7168, 128x128 fp8 blocks.
    w_q_uk = 1536 * 8192 + 12 * 64 * 4          # fp8 (1536 x 16*512) + fp32 block scales
    w_uv_o = 8192 * 7168 + 64 * 56 * 4          # fp8 (16*512 x 7168) + scales
    w_qr = 1536 * 16 * 64 * 2                   # bf16 rope part of q
    kv_b = 512 * 16 * (128 + 128) * 2           # dequantized kv_b_proj kept behind W_UK / W_UV
    assert w_q_uk + w_uv_o + w_qr + kv_b == 78_660_608
    assert weights.mla_decode_bytes(f, 8, absorbed=True) == 78_660_608
    assert weights.mla_decode_bytes(f, 8, absorbed=False) == kv_b


def test_deepseek_r1_tp8_weights_match_the_logged_v0_load():
    measured = _measured("file2090-8xh200-deepseek-r1-tp8-u085")     # 83.88 GiB, 8 x H200, V0 (Mar 2025)
    p = plan(DEEPSEEK_R1, "H200", 8, version="0.7.3", mode="predict", tensor_parallel_size=8,
             max_model_len=32768, gpu_memory_utilization=0.85)
    assert abs(p.per_gpu.weights_bytes / GIB / measured - 1) < 0.01
    v1 = plan(DEEPSEEK_R1, "H200", 8, version="0.8.5", mode="predict", tensor_parallel_size=8,
              max_model_len=32768, gpu_memory_utilization=0.85)
    assert p.per_gpu.weights_bytes - v1.per_gpu.weights_bytes == 61 * (78_660_608 - 4_194_304)


def test_bf16_mla_keeps_no_extra_copy_after_0_8():
    f = facts(DEEPSEEK_V3)
    assert f.quantization is not None      # the V3 checkpoint is fp8 too; build a 16-bit twin
    import dataclasses
    bf16 = dataclasses.replace(f, quantization=None)
    assert weights.mla_decode_bytes(bf16, 8, absorbed=False) == 0
    # Absorbed in 16-bit: W_Q_UK + W_UV_O + W_QR, no requantization.
    assert weights.mla_decode_bytes(bf16, 8, absorbed=True) == 2 * (1536 * 8192 + 8192 * 7168 + 1536 * 16 * 64)


NEMOTRON_NVFP4 = "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-NVFP4"


def _nvfp4_facts():
    from plan_support import CONFIGS
    from vllm_compile.resolve.models import facts_from_config

    folder = CONFIGS / NEMOTRON_NVFP4
    return facts_from_config(json.loads((folder / "config.json").read_text()), model_id=NEMOTRON_NVFP4,
                             source="catalog", quant_config=json.loads((folder / "hf_quant_config.json").read_text()))


def test_nvfp4_moe_backend_choice_by_gpu_and_release():
    # Below SM 10.0 no kernel has native FP4: Marlin, at the checkpoint's size, in every release.
    for version in ("0.12.0", "0.19.1", "0.21.0", "0.33.0"):
        for card in ("H100", "A100-SXM-80GB", "L40S"):
            assert not weights.load_kernels(version, gpu(card)).nvfp4_moe_swizzle, (version, card)
        # Consumer Blackwell (12.x): FLASHINFER_CUTLASS or VLLM_CUTLASS, both swizzling the scales.
        assert weights.load_kernels(version, gpu("RTX-5090")).nvfp4_moe_swizzle, version
        assert weights.load_kernels(version, gpu("RTX-PRO-6000")).nvfp4_moe_swizzle, version
    # Datacenter Blackwell: VLLM_CUTLASS by default up to 0.14.x, FLASHINFER_TRTLLM first from 0.15.0.
    assert weights.load_kernels("0.14.1", gpu("B200")).nvfp4_moe_swizzle
    assert not weights.load_kernels("0.15.0", gpu("B200")).nvfp4_moe_swizzle
    assert not weights.load_kernels("0.21.0", None).nvfp4_moe_swizzle


def test_nvfp4_swizzle_pads_nemotron_nano_non_gated_experts():
    f = _nvfp4_facts()
    assert f.moe is not None and not f.moe.gated and weights.nvfp4_experts(f)
    # Hidden 2688 (21 x 128), squared-ReLU experts of 1856 rows: w13 is 1856 x 2688 (one up
    # projection), its scales 1856 x 168; swizzled into 128 x 4 tiles the rows become 1920 (+64),
    # so w13 gains 64 x 1344 B of nibbles and 64 x 168 B of scales; w2 (2688 x 1856) gains 64
    # columns: 2688 x 32 B of nibbles, and its scales go from 116 to 120 columns: 2688 x 4 B.
    per_expert = 64 * 1344 + 64 * 168 + 2688 * 32 + 2688 * 4
    assert per_expert == 193_536
    assert weights.nvfp4_swizzle_growth(f, 1, False) == 128 * per_expert
    # TP 2: each rank's slice of 928 rows pads to 1024 (+96); w2's scales 58 -> 64 columns.
    assert weights.nvfp4_swizzle_growth(f, 2, False) == 128 * (96 * 1344 + 96 * 168 + 2688 * 48 + 2688 * 6)
    # Expert parallel over 2 ranks: 64 whole experts each, padded as at TP 1.
    assert weights.nvfp4_swizzle_growth(f, 2, True) == 64 * per_expert
    # Gated experts of the same sizes (w13 3712 = 29 x 128 rows, 168 and 116 scale columns) are
    # already tile-aligned: nothing grows.
    import dataclasses
    gated = dataclasses.replace(f, moe=dataclasses.replace(f.moe, gated=True))
    assert weights.nvfp4_swizzle_growth(gated, 1, False) == 0


def test_nemotron_nano_nvfp4_weights_match_the_logged_loads_per_backend():
    from vllm_compile.ir.plan import PlanRequest
    from vllm_compile.plan import plan_deployment

    f = _nvfp4_facts()

    def loaded(card: str, version: str) -> int:
        req = PlanRequest(vllm_version=version, model=f, gpu=gpu(card), gpu_count=1, mode="predict",
                          max_model_len=32768, kv_cache_dtype="fp8")
        return plan_deployment(req).per_gpu.weights_bytes

    marlin, cutlass = loaded("H100", "0.21.0"), loaded("RTX-5090", "0.21.0")
    assert cutlass - marlin == 23 * 128 * 193_536          # 23 MoE layers ("E" in the pattern)
    assert abs(cutlass / GIB / _measured("localhost-rtx5090-nemotron-cascade2-30b-nvfp4-256k") - 1) < 0.01
    assert abs(loaded("H100-NVL-94GB", "0.19.1") / GIB
               / _measured("agentlog-h100-94g-nemotron-cascade2-30b-nvfp4-262k") - 1) < 0.01
