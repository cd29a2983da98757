"""CUDA-graph capture sizes per release era, NCCL all-reduces captured into graphs, the
start-up headroom check (memory vLLM allocates outside util x total), and the V0 profile run's
activation peak (forward pass or sampler sort, whichever is larger)."""
from __future__ import annotations

from plan_support import GIB, LLAMA_8B, facts, gpu, plan
from vllm_compile.plan import overheads, rules_data

QWEN3_30B_A3B = "Qwen/Qwen3-30B-A3B"


def test_capture_sizes_by_era():
    # V0: [1, 2, 4, 8, 16, ..., 256] for max_num_seqs 256 (3 + 32 sizes); one sequence -> [1].
    assert len(overheads.capture_sizes(256, "v0")) == 35
    assert overheads.capture_sizes(1, "v0") == [1]
    # V1 up to 0.10: [1, 2, 4] + 8..512 step 8 whatever max_num_seqs is; only sizes above
    # max_num_batched_tokens are dropped.
    assert len(overheads.capture_sizes(1, "v1a", 2048)) == 3 + 64
    assert overheads.capture_sizes(1, "v1a", 16) == [1, 2, 4, 8, 16]
    # Newest: up to min(2 x max_num_seqs, 512), steps of 16 above 256.
    assert overheads.capture_sizes(8, "v1c", 8192) == [1, 2, 4, 8, 16]
    assert len(overheads.capture_sizes(1024, "v1c", 8192)) == 3 + 31 + 17


def test_nccl_collectives_captured_into_graphs_cost_per_capture():
    plain = overheads.cuda_graph_bytes(48, 1, False, era="v1a", max_num_batched_tokens=2048)
    with_nccl = overheads.cuda_graph_bytes(48, 1, False, era="v1a", max_num_batched_tokens=2048, nccl_in_graphs=True)
    # 67 sizes x 48 layers x 2 all-reduces x 0.2 MiB (209,715 B); +-1 B of rounding.
    assert abs(with_nccl - plain - 67 * 48 * 2 * 209_715) <= 1
    assert overheads.cuda_graph_bytes(48, 1, True, era="v1a", nccl_in_graphs=True) == 0
    # Custom all-reduce replaces NCCL on NVLink and on two PCIe GPUs; not on four PCIe GPUs.
    assert overheads.custom_all_reduce(gpu("H100"), 8) and overheads.custom_all_reduce(gpu("A10"), 2)
    assert not overheads.custom_all_reduce(gpu("A10"), 4)
    assert overheads.nccl_in_graphs(gpu("A10"), 4, graphs_in_budget=False)
    assert not overheads.nccl_in_graphs(gpu("A10"), 4, graphs_in_budget=True)
    assert not overheads.nccl_in_graphs(gpu("A10"), 1, graphs_in_budget=False)


def _a10(**kw):
    # vllm#17469: Qwen3-30B-A3B, TP 4 on 4 x A10, vLLM 0.8.5, max_model_len 1024, max_num_seqs 1:
    # CUDA out of memory during graph capture; starts with --enforce-eager.
    return plan(QWEN3_30B_A3B, "A10", 4, version="0.8.5", mode="predict", tensor_parallel_size=4,
                max_model_len=1024, max_num_seqs=1, **kw)


def test_graph_capture_oom_on_four_pcie_a10s_is_predicted():
    p = _a10()
    assert p.verdict == "invalid"
    assert "CUDA out of memory" in p.reasons[0] and "CUDA graph" in p.reasons[0]
    spare = p.per_gpu.total_bytes - p.per_gpu.requested_bytes
    assert spare < p.headroom_needed_bytes == overheads.cuda_context_bytes() + p.per_gpu.cuda_graph_bytes
    settings = [dict(f.settings) for f in p.fixes]
    assert {"engine.enforce_eager": True} in settings
    util_fix = next(s["engine.gpu_memory_utilization"] for s in settings if "engine.gpu_memory_utilization" in s)
    assert _a10(gpu_memory_utilization=util_fix).verdict == "ok"
    assert _a10(enforce_eager=True).verdict == "ok"


def test_same_start_up_with_graphs_in_the_budget_or_on_nvlink_is_fine():
    # From 0.21 the graph estimate is subtracted before sizing the KV cache: nothing is left
    # outside util x total but the CUDA context.
    p = plan(QWEN3_30B_A3B, "A10", 4, version="0.28.0", mode="predict", tensor_parallel_size=4,
             max_model_len=1024, max_num_seqs=1)
    assert p.verdict == "ok" and p.headroom_needed_bytes == overheads.cuda_context_bytes()
    # Custom all-reduce on NVLink keeps NCCL out of the graphs.
    nvlink = plan(QWEN3_30B_A3B, "A100-SXM-40GB", 4, version="0.8.5", mode="predict", tensor_parallel_size=4,
                  max_model_len=1024, max_num_seqs=1)
    assert nvlink.verdict == "ok"
    assert nvlink.per_gpu.cuda_graph_bytes < 0.7 * GIB


def test_compile_mode_lowers_utilization_to_leave_room_for_graphs():
    p = plan(QWEN3_30B_A3B, "A10", 4, version="0.8.5", max_model_len=1024, tensor_parallel_size=4)
    assert p.verdict == "ok"
    spare = p.per_gpu.total_bytes - p.per_gpu.requested_bytes
    assert spare >= p.headroom_needed_bytes and p.gpu_memory_utilization < 0.90
    choice = next(c for c in p.choices if c.knob == "gpu_memory_utilization")
    assert "lowered" in choice.reason


def test_v0_sampler_sort_holds_the_logits_and_the_sort_buffers():
    # Per logit while V0's dummy sampler sorts: fp16 logits 2 B + their fp32 copy 4 + sorted
    # values 4 + int64 indices 8; from 128 rows (and for one) the int64 index input 8 and the
    # radix sort's alternate fp32 keys 4 and int64 values 8 (38 B); for 2 to 127 rows the
    # flat sort's int2 pairs and their copy 8 + 8, a keys output 4, alternate keys 4 and pairs 8 (50 B).
    assert overheads.v0_sampler_sort_bytes(160, 128_256, 2) == 160 * 128_256 * 38 == 779_796_480
    assert overheads.v0_sampler_sort_bytes(1, 128_256, 2) == 128_256 * 38
    assert overheads.v0_sampler_sort_bytes(64, 128_256, 2) == 64 * 128_256 * 50
    # A float32 model's logits are the fp32 tensor already: no copy (36 B).
    assert overheads.v0_sampler_sort_bytes(256, 32_000, 4) == 256 * 32_000 * 36


def test_v0_activation_peak_is_the_larger_of_forward_and_sampler():
    llama = facts(LLAMA_8B)
    const = rules_data.gib("constant_gib.v0")
    # The file4484 start-up's shape (vLLM 0.7.2 on a T4: 512 batched tokens, 160 sequences,
    # logged 'PyTorch activation peak memory takes 0.74GiB'): the sort, plus the 512 x 4096
    # fp16 hidden states the runner still holds, is the peak (0.730 GiB).
    small = overheads.activation_bytes(llama, "v0", 1, 512, 160, 2)
    assert small == 779_796_480 + 512 * 4096 * 2 + const
    # 20,000 batched tokens (vllm#10517): the forward pass's (2 x 14336 + 4096) x 2 B per token
    # outweighs the sampler phase (256 x 128,256 x 38 + 20,000 x 4096 x 2 = 1,411,510,272 B).
    ff = rules_data.constant("forward_factor.v0")
    large = overheads.activation_bytes(llama, "v0", 1, 20_000, 256, 2)
    assert large == int(20_000 * 2 * 32_768 * ff) + const > 1_411_510_272 + const
    # V1 keeps its fitted additive form (the V0 sort does not apply).
    assert overheads.activation_bytes(llama, "v1a", 1, 512, 160, 2) < small


def test_v0_era_nccl_buffers_on_an_nvswitch_hopper_node():
    # file2090 (DeepSeek-R1, TP 8 on 8 x H200, V0 0.7.x) logs "non_torch_memory takes 7.16GiB".
    # NCCL <= 2.21 sets up NVLS on NVSwitch Hopper above 2 GPUs: 288 MiB per rank (vLLM #9699's
    # nvlsPerRankSize 301989888) x 8 ranks x 2 communicators (pynccl + torch's TP group) = 4.5 GiB.
    h200 = gpu("H200")
    assert overheads.nvls_bytes(h200, 8) == 2 * 301_989_888 * 8 == 4_831_838_208
    # + cuBLAS 0.15 GiB (161,061,273 B) + 7 peers x 0.03 GiB (32,212,254 B) + NVLink channel
    # buffers 2.3 GiB (2,469,606,195 B) = 7,687,991,454 B = 7.16 GiB, as logged.
    assert overheads.non_torch_bytes(8, 1, 1, h200, eager_nccl=True) == 7_687_991_454
    assert round(7_687_991_454 / GIB, 2) == 7.16
    # Releases whose NCCL connects lazily (0.9.0+): only the per-peer term.
    assert overheads.non_torch_bytes(8, 1, 1, h200, eager_nccl=False) == 161_061_273 + 7 * 32_212_254


def test_nvls_needs_hopper_an_nvswitch_and_more_than_two_gpus():
    assert overheads.nvls_bytes(gpu("H100"), 4) == 2 * 301_989_888 * 4
    assert overheads.nvls_bytes(gpu("H100"), 2) == 0                # NCCL: NVLS only above 2 GPUs
    assert overheads.nvls_bytes(gpu("A100-80GB"), 8) == 0           # Ampere: no NVLink SHARP
    assert overheads.nvls_bytes(gpu("H100-NVL-94GB"), 4) == 0       # NVL bridge pairs, no NVSwitch
    assert overheads.nvls_bytes(gpu("RTX 3090"), 4) == 0            # PCIe
    # file3873: TP 4 on PCIe, V0: no NVLink term; 0.15 + 3 x 0.03 GiB = 0.24 GiB (logged 0.20).
    assert overheads.non_torch_bytes(4, 1, 1, gpu("RTX 3090"), eager_nccl=True) == 161_061_273 + 3 * 32_212_254
    # A100 NVLink, TP 4: the channel buffers without NVLS.
    assert overheads.non_torch_bytes(4, 1, 1, gpu("A100-80GB"), eager_nccl=True) == \
        161_061_273 + 3 * 32_212_254 + 2_469_606_195


def test_the_eager_nccl_buffers_stop_with_the_nccl_of_0_9():
    from vllm_compile.plan import releases

    assert releases.rules_for("0.6.3").nccl_eager_buffers and releases.rules_for("0.8.5").nccl_eager_buffers
    assert not releases.rules_for("0.9.0").nccl_eager_buffers
    old = plan(LLAMA_8B, "H100", 4, version="0.8.5", mode="predict", tensor_parallel_size=4)
    new = plan(LLAMA_8B, "H100", 4, version="0.9.0", mode="predict", tensor_parallel_size=4)
    assert old.per_gpu.non_torch_bytes - new.per_gpu.non_torch_bytes == 2_469_606_195 + 2 * 301_989_888 * 4
