"""Hand-built IR objects for lower/emit tests (the real resolve and plan stages are not used).

Llama-3.1-8B-Instruct figures are from its published config.json: 32 layers, hidden 4096,
32 heads, 8 KV heads, head_dim 128, MLP 14336, vocab 128256, untied embeddings, bf16;
8,030,261,248 parameters -> 16,060,522,496 bytes in bf16.
"""
from __future__ import annotations

from dataclasses import replace

from vllm_compile.diagnostics import SourceMap
from vllm_compile.ir.facts import GpuFacts, HardwareFacts, HostGpu, LayerFacts, ModelFacts
from vllm_compile.ir.plan import Ledger, Plan
from vllm_compile.ir.spec import Deployment, DeploymentSpec, HardwareSpec, Spec

LLAMA_8B_PARAMS = 8_030_261_248
LLAMA_8B_BYTES = 2 * LLAMA_8B_PARAMS
H100 = GpuFacts(name="H100-SXM-80GB", memory_bytes=85_029_158_912, compute_capability=(9, 0), bf16=True, fp8=True,
                nvidia_smi_names=("NVIDIA H100 80GB HBM3",))
MI300X = GpuFacts(name="MI300X", memory_bytes=205_567_872_205, compute_capability=(9, 4), bf16=True, fp8=True,
                  vendor="amd")

# Where keys stand in the imaginary spec file the tests compile (1-based line, column).
POSITIONS = {
    "": (1, 1), "name": (2, 1), "model": (3, 1), "model.id": (4, 3), "model.path": (5, 3),
    "model.dtype": (6, 3), "model.quantization": (7, 3), "hardware": (8, 1), "hardware.device_ids": (10, 3),
    "engine": (12, 1), "engine.version": (13, 3), "engine.image": (14, 3), "engine.kv_cache_dtype": (15, 3),
    "engine.block_size": (16, 3), "engine.enable_expert_parallel": (17, 3), "engine.extra_args": (18, 3),
    "engine.extra_args[0]": (19, 7), "engine.extra_args[1]": (20, 7), "engine.extra_args[2]": (21, 7),
    "engine.extra_args[3]": (22, 7), "workload.max_model_len": (24, 3), "output.dir": (27, 3),
}


def llama_facts(**changes) -> ModelFacts:
    layer = LayerFacts(index=0, attention="full", kv_heads=8, head_size=128, head_size_v=128)
    facts = ModelFacts(
        model_id="meta-llama/Llama-3.1-8B-Instruct", model_type="llama", architecture="LlamaForCausalLM",
        source="path:/somewhere/absolute", num_layers=32, hidden_size=4096, num_attention_heads=32,
        num_kv_heads=8, head_dim=128, intermediate_size=14336, vocab_size=128256, tie_word_embeddings=False,
        max_position_embeddings=131072, dtype="bfloat16",
        layers=tuple(replace(layer, index=i) for i in range(32)),
        parameters=LLAMA_8B_PARAMS, weight_bytes=LLAMA_8B_BYTES,
        embedding_bytes_per_row=8192, lm_head_bytes_per_row=8192, final_norm_bytes=8192, gated=True)
    return replace(facts, **changes)


def hardware(count: int = 1, gpu: GpuFacts = H100) -> HardwareFacts:
    return HardwareFacts(gpus=tuple(HostGpu(index=i, gpu=gpu) for i in range(count)))


def plan(**changes) -> Plan:
    ledger = Ledger(total_bytes=H100.memory_bytes, requested_bytes=int(H100.memory_bytes * 0.9),
                    weights_bytes=LLAMA_8B_BYTES, activation_bytes=2 << 30, non_torch_bytes=1 << 30,
                    cuda_graph_bytes=1 << 30, kv_cache_bytes=40 << 30, kv_bytes_per_token=131072)
    base = Plan(vllm_version="0.18.1", engine="v1", tensor_parallel_size=1, pipeline_parallel_size=1,
                max_model_len=32768, gpu_memory_utilization=0.9, block_size=16, per_gpu=ledger,
                kv_cache_tokens=327680, max_concurrency=10.0, verdict="ok", reasons=(), fixes=(),
                dtype="bfloat16", kv_cache_dtype="auto", max_num_seqs=8, max_num_batched_tokens=8192,
                enforce_eager=False)
    return replace(base, **changes)


def deployment(**sections) -> DeploymentSpec:
    data = {
        "name": "llama-chat",
        "model": {"id": "meta-llama/Llama-3.1-8B-Instruct"},
        "engine": {"version": "0.18.1"},
        "output": {"dir": "deploy/llama-chat"},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return DeploymentSpec.model_validate(data)


def spec(dep: DeploymentSpec, directory: str = "/work/project", **hardware_spec) -> Spec:
    return Spec(path="specs/llama.yaml", directory=directory,
                source=SourceMap(file="specs/llama.yaml", positions=POSITIONS),
                hardware=HardwareSpec.model_validate({"gpu": "H100-80GB", **hardware_spec}),
                deployments=(Deployment(key_prefix="", spec=dep),), output=dep.output, digest="0" * 64)


def lowered(dep: DeploymentSpec | None = None, the_plan: Plan | None = None, facts: ModelFacts | None = None,
            **kw):
    from vllm_compile.lower import lower_deployment

    dep = dep or deployment()
    the_plan = the_plan or plan(vllm_version=dep.engine.version)
    hardware_spec = kw.pop("hardware_spec", {})
    gpu = kw.pop("gpu", H100)
    return lower_deployment(dep, the_plan, facts or llama_facts(), hardware(the_plan.gpus, gpu),
                            spec=spec(dep, **hardware_spec), key_prefix="", **kw)
