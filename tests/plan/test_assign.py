"""plan_host: giving each deployment of a host its GPUs — disjoint whole GPUs, shared GPUs with the
smallest utilization, overcommit and mixed-type refusals, device ids.

Specs go through the real pipeline up to the plan (or lower) pass; expected figures are derived
by hand from the models' published configs and the catalog's totals (H100-SXM 79.18 GiB, L40S
44.39 GiB, L4 22.04 GiB as vLLM reports them)."""
from __future__ import annotations

import dataclasses
import json
import math
import textwrap

import pytest

from vllm_compile import pipeline
from vllm_compile.diagnostics import CompileError
from vllm_compile.ir.facts import HardwareFacts, HostGpu
from vllm_compile.plan import plan_deployment
from vllm_compile.plan.assign import held_bytes, request_for
from vllm_compile.resolve.hardware import hardware_lock_section, lookup_gpu

GIB = 1 << 30
CONTEXT = GIB // 2   # the CUDA context each instance holds outside its budget (~0.5 GiB)

H100_UUIDS = ("GPU-11111111-aaaa-4000-8000-000000000000", "GPU-33333333-aaaa-4000-8000-000000000002")
L4_UUIDS = ("GPU-22222222-bbbb-4000-8000-000000000001", "GPU-44444444-bbbb-4000-8000-000000000003")


def run(tmp_path, text: str, until=pipeline.plan, lock: dict | None = None):
    spec = tmp_path / "host.yaml"
    spec.write_text(textwrap.dedent(text))
    if lock is not None:
        (tmp_path / "host.yaml.lock").write_text(json.dumps(lock))
    return pipeline.run(str(spec), until=until)


def refused(tmp_path, text: str, lock: dict | None = None):
    with pytest.raises(CompileError) as info:
        run(tmp_path, text, lock=lock)
    return info.value.diagnostics


def mixed_lock() -> dict:
    """A recorded 2 x H100 + 2 x L4 host, the types interleaved by index."""
    h100, l4 = lookup_gpu("H100"), lookup_gpu("L4")
    gpus = (HostGpu(0, h100, H100_UUIDS[0]), HostGpu(1, l4, L4_UUIDS[0]),
            HostGpu(2, h100, H100_UUIDS[1]), HostGpu(3, l4, L4_UUIDS[1]))
    return {"version": 1, "models": {}, "hardware": hardware_lock_section(HardwareFacts(gpus, detected=True))}


def deployment(name, model, port, *, length=None, concurrency=1, tp=None, util=None, version="0.33.0"):
    workload = f"{{max_model_len: {length}, concurrency: {concurrency}}}" if length else f"{{concurrency: {concurrency}}}"
    engine = f'version: "{version}"' + (f", tensor_parallel_size: {tp}" if tp else "") + \
        (f", gpu_memory_utilization: {util}" if util else "")
    return (f"  - name: {name}\n    model: {{id: {model}}}\n    workload: {workload}\n"
            f"    engine: {{{engine}}}\n    server: {{port: {port}}}\n")


def host(hardware: str, *deployments: str) -> str:
    return f"version: 1\nhardware: {hardware}\ndeployments:\n" + "".join(deployments)


LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"
LLAMA_8B = "meta-llama/Llama-3.1-8B-Instruct"
QWEN_32B = "Qwen/Qwen2.5-32B-Instruct"
QWEN_15B = "Qwen/Qwen2.5-1.5B-Instruct"
LLAMA_1B = "meta-llama/Llama-3.2-1B-Instruct"


# --------------------------------------------------------------------------------------------
# Disjoint whole GPUs


def test_eight_gpus_packed_in_order_as_indexes(tmp_path):
    c = run(tmp_path, host("{gpu: H100, count: 8}",
                           deployment("big", LLAMA_70B, 8000, length=32768, concurrency=8, tp=4),
                           deployment("mid", QWEN_32B, 8001, length=32768, concurrency=4),
                           deployment("a", LLAMA_8B, 8002, length=32768, concurrency=8),
                           deployment("b", LLAMA_8B, 8003, length=32768, concurrency=8)))
    # Qwen2.5-32B: 32.76e9 bf16 parameters = 61.0 GiB of weights, plus 4 x 32768 tokens x 256 KiB
    # (64 layers x 8 KV heads x 128 x K,V x 2 B) = 32 GiB of KV: more than 0.92 x 79.18 = 72.85 GiB
    # on one GPU, so the planner takes two.
    assert [p.gpus for p in c.plans] == [4, 2, 1, 1]
    assert c.devices == (("0", "1", "2", "3"), ("4", "5"), ("6",), ("7",))
    assert all(p.gpu_memory_utilization == 0.92 for p in c.plans)   # alone on their GPUs: the release default
    assert not any(d.key == "hardware" for d in c.warnings)          # every GPU is used


def test_declared_device_ids_are_the_host_gpus_in_order(tmp_path):
    c = run(tmp_path, host('{gpu: L40S, device_ids: ["3", "1", "2"]}',
                           deployment("a", LLAMA_8B, 8000, length=8192),
                           deployment("b", QWEN_15B, 8001, length=8192)))
    assert c.devices == (("3",), ("1",))
    idle = [d for d in c.warnings if d.key == "hardware"]
    assert len(idle) == 1 and "2" in idle[0].message


def test_single_deployment_on_a_uniform_host_keeps_count(tmp_path):
    spec = tmp_path / "one.yaml"
    spec.write_text(f"version: 1\nhardware: {{gpu: H100, count: 4}}\nname: one\nmodel: {{id: {LLAMA_8B}}}\n"
                    f"engine: {{version: '0.33.0'}}\n")
    c = pipeline.run(str(spec), until=pipeline.plan)
    assert c.devices == (None,)


def test_too_few_gpus_names_the_holders_and_the_shortfall(tmp_path):
    text = host("{gpu: H100, count: 8}",
                deployment("first", LLAMA_70B, 8000, length=8192, tp=4),
                deployment("second", LLAMA_70B, 8001, length=8192, tp=4),
                deployment("third", LLAMA_8B, 8002, length=8192))
    [d] = refused(tmp_path, text)
    assert d.key == "deployments[2]"
    assert d.line == text.splitlines().index("  - name: third") + 1
    assert "'first' holds GPU 0, 1, 2, 3" in d.message and "'second' holds GPU 4, 5, 6, 7" in d.message
    assert "needs 1 H100-SXM-80GB GPU(s) but only 0 of the host's 8 are free" in d.message
    assert "1 GPU(s) short" in d.message
    assert "hardware.count: 9" in d.fix and "share_gpus: true" in d.fix


def test_ports_must_differ(tmp_path):
    [d] = refused(tmp_path, host("{gpu: H100, count: 2}", deployment("a", LLAMA_8B, 8000, length=8192),
                                 deployment("b", QWEN_15B, 8000, length=8192)))
    assert d.key == "deployments[1].server.port" and "already used by deployment 'a'" in d.message


# --------------------------------------------------------------------------------------------
# Sharing GPUs


def _goal_holds(plan, facts_tokens_bytes: int, requests: int, length: int) -> bool:
    return plan.per_gpu.kv_cache_bytes >= requests * length * facts_tokens_bytes


def test_two_small_models_share_one_gpu_with_the_smallest_utilizations(tmp_path):
    c = run(tmp_path, host("{gpu: L40S, share_gpus: true}",
                           deployment("qwen", QWEN_15B, 8000, length=8192, concurrency=4),
                           deployment("llama", LLAMA_1B, 8001, length=16384, concurrency=2)), until=pipeline.lower)
    assert c.devices == (("0",), ("0",))
    qwen, llama = c.plans
    # KV bytes per token from the configs: Qwen2.5-1.5B 28 layers x 2 KV heads x 128 x K,V x 2 B;
    # Llama-3.2-1B 16 layers x 8 KV heads x 64 x K,V x 2 B.
    assert qwen.per_gpu.kv_bytes_per_token == 28 * 2 * 128 * 2 * 2
    assert llama.per_gpu.kv_bytes_per_token == 16 * 8 * 64 * 2 * 2
    assert _goal_holds(qwen, 28672, 4, 8192) and _goal_holds(llama, 32768, 2, 16384)
    for plan, dep in zip(c.plans, c.spec.deployments):
        util = plan.gpu_memory_utilization
        assert util == round(util, 2) and util < 0.5
        # One hundredth less no longer holds the workload (same length, same KV dtype).
        lower = plan_deployment(dataclasses.replace(
            request_for(dep.spec, c.models[c.plans.index(plan)], lookup_gpu("L40S"), 1),
            gpu_memory_utilization=round(util - 0.01, 2), max_model_len=plan.max_model_len))
        assert not (lower.verdict == "ok" and lower.goal_met and lower.kv_cache_dtype == plan.kv_cache_dtype)
    # Both fit: each holds ceil(util x 44.39 GiB) plus its CUDA context.
    total = lookup_gpu("L40S").memory_bytes
    assert sum(math.ceil(p.gpu_memory_utilization * total) + CONTEXT for p in c.plans) <= total
    assert [held_bytes(p) for p in c.plans] == [math.ceil(p.gpu_memory_utilization * total) + CONTEXT for p in c.plans]
    # The second starts once the first is healthy, and knows what the first holds.
    assert c.lowered[1].depends_on_healthy == ("qwen",) and c.lowered[0].depends_on_healthy == ()
    reason = next(ch.reason for ch in llama.choices if ch.knob == "gpu_memory_utilization")
    assert "starts after 'qwen'" in reason
    assert f"{(total - held_bytes(qwen)) / GIB:.2f} GiB free" in reason
    assert all(p.verdict == "ok" and p.goal_met for p in c.plans)


def test_packing_chain_and_whole_gpus(tmp_path):
    c = run(tmp_path, host("{gpu: L40S, count: 3, share_gpus: true}",
                           deployment("a", QWEN_15B, 8000, length=4096, concurrency=2),
                           deployment("wide", QWEN_32B, 8001, length=8192, tp=2),
                           deployment("b", LLAMA_1B, 8002, length=4096, concurrency=2),
                           deployment("c", QWEN_15B, 8003, length=4096, concurrency=2)),
            until=pipeline.lower)
    # 'a' opens GPU 0; the TP 2 deployment takes two whole GPUs that hold nobody; 'b' and 'c' join 'a'.
    assert c.devices == (("0",), ("1", "2"), ("0",), ("0",))
    assert [low.depends_on_healthy for low in c.lowered] == [(), (), ("a",), ("b",)]
    assert c.plans[1].gpu_memory_utilization == 0.92
    total = lookup_gpu("L40S").memory_bytes
    shared = [c.plans[i] for i in (0, 2, 3)]
    assert sum(math.ceil(p.gpu_memory_utilization * total) + CONTEXT for p in shared) <= total


def test_a_tenant_alone_on_its_gpu_gets_the_release_default(tmp_path):
    c = run(tmp_path, host("{gpu: L40S, count: 2, share_gpus: true}",
                           deployment("a", LLAMA_8B, 8000, length=32768, concurrency=2),
                           deployment("b", LLAMA_8B, 8001, length=32768, concurrency=2)))
    # Each needs 14.96 GiB of weights + 2 x 32768 tokens x 128 KiB = 8 GiB of KV, about 24 GiB:
    # two do not fit in 44.39 GiB, so each is alone on a GPU with vLLM 0.33's default 0.92.
    assert c.devices == (("0",), ("1",))
    assert [p.gpu_memory_utilization for p in c.plans] == [0.92, 0.92]


def test_pinned_utilizations_that_overfill_a_gpu_are_refused_by_how_much(tmp_path):
    text = host("{gpu: L40S, share_gpus: true}",
                deployment("a", QWEN_15B, 8000, length=4096, util=0.6),
                deployment("b", LLAMA_1B, 8001, length=4096, util=0.5))
    [d] = refused(tmp_path, text)
    total = lookup_gpu("L40S").memory_bytes
    # b needs 0.5 x 44.39 + 0.5 GiB; a leaves 44.39 - (0.6 x 44.39 + 0.5) GiB.
    need = math.ceil(0.5 * total) + CONTEXT
    room = total - (math.ceil(0.6 * total) + CONTEXT)
    assert d.key == "deployments[1].engine.gpu_memory_utilization"
    assert f"{(need - room) / GIB:.2f} GiB short" in d.message
    assert f"{need / GIB:.2f} GiB of one L40S" in d.message
    assert "'a'" in d.message and f"{room / GIB:.2f} GiB left" in d.message
    assert "smaller engine.gpu_memory_utilization than 0.50" in d.fix and "hardware.count: 2" in d.fix


def test_pinned_utilizations_that_fit_share_and_predict_the_start_up_check(tmp_path):
    c = run(tmp_path, host("{gpu: L40S, share_gpus: true}",
                           deployment("a", QWEN_15B, 8000, length=4096, util=0.45),
                           deployment("b", LLAMA_1B, 8001, length=4096, util=0.45)))
    assert c.devices == (("0",), ("0",))
    assert [p.gpu_memory_utilization for p in c.plans] == [0.45, 0.45]
    # Without sharing, the same pair takes one GPU each, and a one-GPU host is short by one.
    [d] = refused(tmp_path, host("{gpu: L40S}", deployment("a", QWEN_15B, 8000, length=4096, util=0.45),
                                 deployment("b", LLAMA_1B, 8001, length=4096, util=0.45)))
    assert "1 GPU(s) short" in d.message and "'a' holds GPU 0" in d.message


def test_without_share_gpus_nobody_shares(tmp_path):
    c = run(tmp_path, host("{gpu: L40S, count: 2}", deployment("a", QWEN_15B, 8000, length=4096),
                           deployment("b", LLAMA_1B, 8001, length=4096)), until=pipeline.lower)
    assert c.devices == (("0",), ("1",))
    assert all(low.depends_on_healthy == () for low in c.lowered)


# --------------------------------------------------------------------------------------------
# Mixed hosts


def test_mixed_host_gives_each_deployment_gpus_of_one_type_by_uuid(tmp_path):
    c = run(tmp_path, host("{gpu: auto}",
                           deployment("chat", LLAMA_8B, 8000, length=8192, concurrency=4),
                           deployment("coder", QWEN_32B, 8001, length=32768, concurrency=4),
                           deployment("small", QWEN_15B, 8002, length=4096)), lock=mixed_lock())
    # Llama 8B: 14.96 GiB of weights + 4 x 8192 x 128 KiB = 4 GiB of KV fits 0.92 x 22.04 = 20.28 GiB
    # of an L4, the type that serves it on the least memory; the 32B model needs two H100s.
    assert c.devices == ((L4_UUIDS[0],), H100_UUIDS, (L4_UUIDS[1],))
    assert [p.gpu_name for p in c.plans] == ["L4", "H100-SXM-80GB", "L4"]
    assert c.plans[0].per_gpu.total_bytes == lookup_gpu("L4").memory_bytes


def test_tensor_parallel_across_types_is_refused_with_the_reason(tmp_path):
    text = host("{gpu: auto}", deployment("wide", LLAMA_70B, 8000, length=8192, tp=4))
    [d] = refused(tmp_path, text, lock=mixed_lock())
    assert d.key == "deployments[0].engine.tensor_parallel_size"
    assert "one gpu_memory_utilization" in d.message and "needs 4 GPUs of one type" in d.message
    assert d.found == "2 x H100-SXM-80GB, 2 x L4"


def test_single_deployment_on_a_mixed_host_is_pinned_to_one_type(tmp_path):
    spec = tmp_path / "one.yaml"
    spec.write_text(f"version: 1\nhardware: {{gpu: auto}}\nname: one\nmodel: {{id: {QWEN_32B}}}\n"
                    f"workload: {{max_model_len: 16384}}\nengine: {{version: '0.33.0'}}\n")
    (tmp_path / "one.yaml.lock").write_text(json.dumps(mixed_lock()))
    c = pipeline.run(str(spec), until=pipeline.plan)
    # 61 GiB of weights: not on an L4 (nor two), on one H100.
    assert c.devices == ((H100_UUIDS[0],),)


def test_locked_host_pinned_by_index_is_emitted_by_uuid(tmp_path):
    c = run(tmp_path, host('{gpu: auto, device_ids: ["3", "GPU-22222222-bbbb-4000-8000-000000000001"]}',
                           deployment("a", QWEN_15B, 8000, length=4096),
                           deployment("b", QWEN_15B, 8001, length=4096)), lock=mixed_lock())
    assert c.devices == ((L4_UUIDS[1],), (L4_UUIDS[0],))


# --------------------------------------------------------------------------------------------
# Plan failures


def test_a_failing_plan_is_refused_at_its_deployment(tmp_path):
    text = host("{gpu: L4, count: 2}", deployment("ok", QWEN_15B, 8000, length=4096),
                deployment("huge", LLAMA_70B, 8001, length=4096, tp=1))
    [d] = refused(tmp_path, text)
    assert d.key.startswith("deployments[1].") and "weights do not fit" in d.message


def test_allow_failure_still_places_the_failing_plan(tmp_path):
    spec = tmp_path / "host.yaml"
    spec.write_text(host("{gpu: L4, count: 2}", deployment("ok", QWEN_15B, 8000, length=4096),
                         deployment("huge", LLAMA_70B, 8001, length=4096, tp=1)))
    c = pipeline.run(str(spec), options=pipeline.Options(allow_plan_failure=True), until=pipeline.plan)
    assert c.plans[1].verdict == "weights_do_not_fit"
    assert c.devices == (("0",), ("1",))


@pytest.mark.parametrize("extra,weights_delta", [
    ('["--enable-lora", "--max-lora-rank", "32"]', 32 * 81_920 * 32 * 2),     # 8B: 81,920 A+B per layer and rank
    ('["--cpu-offload-gb=2"]', -2 * GIB),
    ('["--kv-cache-memory-bytes", "4G"]', 0),
])
def test_memory_flags_in_extra_args_change_the_plan(tmp_path, extra, weights_delta):
    spec = """
        version: 1
        name: chat
        model:
          id: meta-llama/Llama-3.1-8B-Instruct
        hardware:
          gpu: L4
        workload:
          max_model_len: 8192
        engine:
          version: "0.10.2"
          extra_args: {extra}
    """
    plain = run(tmp_path, spec.format(extra="[]")).plans[0]
    tuned = run(tmp_path, spec.format(extra=extra)).plans[0]
    assert tuned.per_gpu.weights_bytes - plain.per_gpu.weights_bytes == weights_delta
    if "kv-cache-memory-bytes" in extra:
        assert tuned.per_gpu.kv_cache_bytes == 4 * GIB


def test_data_parallel_replicas_in_extra_args_take_their_gpus(tmp_path):
    spec = """
        version: 1
        name: qwen-dp
        model:
          id: Qwen/Qwen3-8B
        hardware:
          gpu: L40S
          count: {count}
        workload:
          max_model_len: 32768
        engine:
          version: "0.15.1"
          extra_args: ["--data-parallel-size", "2"]
    """
    plan = run(tmp_path, spec.format(count=2)).plans[0]
    assert (plan.tensor_parallel_size, plan.data_parallel_size, plan.gpus) == (1, 2, 2)
    errors = refused(tmp_path, spec.format(count=1))
    assert any("data_parallel_size 2 needs at least 2 GPUs; hardware.count gives 1" in d.message for d in errors)
