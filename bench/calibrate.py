"""Feed every real vLLM start-up in ../shared/calibration through the planner (predict mode)
and report, per case and in total: weights error, KV-token error, verdict vs outcome.

Run: python bench/calibrate.py [--json] [--ledger]   (also part of `make bench`)
`--ledger` adds each case's predicted per-GPU ledger and the headroom outside vLLM's budget.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CALIBRATION = ROOT.parent / "shared" / "calibration" / "vllm-startups.jsonl"
CONFIGS = ROOT / "vllm_compile" / "data" / "model-configs"
GIB = 1 << 30

QUANT_BLOCKS = {
    "awq4": {"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True, "version": "gemm"},
    "gptq4": {"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": False, "sym": True},
    "fp8block": {"quant_method": "fp8", "activation_scheme": "dynamic", "fmt": "e4m3", "weight_block_size": [128, 128]},
    "bnb4": {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
             "bnb_4bit_compute_dtype": "bfloat16", "bnb_4bit_use_double_quant": False},
}
SUCCESS = "started"


def load_cases():
    with open(CALIBRATION) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def predict_case(case):
    import dataclasses

    from vllm_compile.ir.plan import PlanRequest
    from vllm_compile.plan import plan_deployment
    from vllm_compile.resolve.hardware import lookup_gpu
    from vllm_compile.resolve.models import facts_from_config

    config = json.loads((CONFIGS / case["config_ref"] / "config.json").read_text())
    quant_file = CONFIGS / case["config_ref"] / "hf_quant_config.json"
    hf_quant = json.loads(quant_file.read_text()) if quant_file.exists() else None
    if case.get("quant_block"):
        config = dict(config, quantization_config=QUANT_BLOCKS[case["quant_block"]])
    facts = facts_from_config(config, model_id=case["config_ref"], source="catalog", quant_config=hf_quant)
    gpu = lookup_gpu(case["gpu"])
    if case.get("memory_gib"):
        gpu = dataclasses.replace(gpu, memory_bytes=int(case["memory_gib"] * GIB))
    # Knobs the user passed that the case has no field for are read from its logged command line.
    logged = " ".join(case.get("log_lines", [])).replace("=", " ").split()
    batched = next((int(logged[i + 1]) for i, w in enumerate(logged[:-1]) if w == "--max-num-batched-tokens"), None)
    dtype = next((logged[i + 1] for i, w in enumerate(logged[:-1]) if w == "--dtype"), "auto")
    if dtype == "auto" and not gpu.bf16:
        dtype = "float16"  # a bf16 checkpoint only starts on a pre-Ampere GPU with --dtype half
    tp = case.get("tensor_parallel_size") or 1
    pp = case.get("pipeline_parallel_size") or 1
    request = PlanRequest(
        vllm_version=case["vllm_version"], model=facts, gpu=gpu, gpu_count=tp * pp, mode="predict",
        max_model_len=case.get("max_model_len"), tensor_parallel_size=tp, pipeline_parallel_size=pp,
        gpu_memory_utilization=case.get("gpu_memory_utilization"), kv_cache_dtype=case.get("kv_cache_dtype") or "auto",
        max_num_seqs=case.get("max_num_seqs"), max_num_batched_tokens=batched, dtype=dtype,
        block_size=case.get("block_size"), enforce_eager=bool(case.get("enforce_eager")),
        allow_long_max_model_len=True)
    return plan_deployment(request)


def ledger(plan) -> str:
    g = plan.per_gpu
    spare = g.total_bytes - g.requested_bytes
    parts = [("total", g.total_bytes), ("requested", g.requested_bytes), ("weights", g.weights_bytes),
             ("activation", g.activation_bytes), ("non-torch", g.non_torch_bytes), ("graphs", g.cuda_graph_bytes),
             ("kv", g.kv_cache_bytes), ("outside", spare), ("needed outside", plan.headroom_needed_bytes)]
    return f"tp{plan.tensor_parallel_size} pp{plan.pipeline_parallel_size} " + \
        " ".join(f"{name} {value / GIB:.2f}" for name, value in parts) + " GiB"


def main(argv):
    rows, weights_ok, weights_n, kv_ok, kv_n, kv_v1_ok, kv_v1_n = [], 0, 0, 0, 0, 0, 0
    failures_caught = failures = false_alarms = started = 0
    for case in load_cases():
        plan = predict_case(case)
        measured = case["measured"]
        row = {"id": case["id"], "vllm": case["vllm_version"], "verdict": plan.verdict, "outcome": measured["outcome"],
               "ledger": ledger(plan)}
        if measured.get("weights_gib"):
            predicted = plan.per_gpu.weights_bytes / GIB
            err = predicted / measured["weights_gib"] - 1
            row["weights"] = f"{predicted:.2f} vs {measured['weights_gib']:.2f} GiB ({err:+.1%})"
            weights_n += 1
            weights_ok += abs(err) <= 0.03
        if measured.get("kv_cache_tokens") and measured["outcome"] in (SUCCESS, "kv_too_small_error"):
            err = plan.kv_cache_tokens / measured["kv_cache_tokens"] - 1
            row["kv_tokens"] = f"{plan.kv_cache_tokens:,} vs {measured['kv_cache_tokens']:,} ({err:+.1%})"
            kv_n += 1
            kv_ok += abs(err) <= 0.10
            if plan.engine == "v1":
                kv_v1_n += 1
                kv_v1_ok += abs(err) <= 0.10
        if measured["outcome"] == SUCCESS:
            started += 1
            false_alarms += plan.verdict != "ok"
        else:
            failures += 1
            failures_caught += plan.verdict != "ok"
        rows.append(row)
    summary = {
        "cases": len(rows),
        "weights_within_3pct": f"{weights_ok}/{weights_n}",
        "kv_tokens_within_10pct": f"{kv_ok}/{kv_n}",
        "kv_tokens_within_10pct_v1": f"{kv_v1_ok}/{kv_v1_n}",
        "failures_predicted": f"{failures_caught}/{failures}",
        "working_predicted_to_fail": f"{false_alarms}/{started}",
    }
    if "--json" in argv:
        print(json.dumps({"cases": rows, "summary": summary}, indent=2))
        return 0
    for row in rows:
        print(f"{row['id']:<48} v{row['vllm']:<8} {row['verdict']:<18} outcome={row['outcome'][:20]:<20} "
              f"weights={row.get('weights', '-'):<34} kv={row.get('kv_tokens', '-')}")
        if "--ledger" in argv:
            print("    " + row["ledger"])
    print()
    for key, value in summary.items():
        print(f"{key:<28} {value}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
