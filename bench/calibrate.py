"""Feed every real vLLM start-up in bench/data/calibration through `vllm-compile predict`, as a
user would run it, and report per case and in total: weights error, KV-token error, verdict vs
outcome.

Each case becomes a command line: `vllm-compile predict --gpu G [--gpu-memory-gib M]
--vllm-version V --format json -- vllm serve MODEL FLAGS`, where MODEL is the case's config
(a repo id the catalog knows, or a folder holding that config plus the case's standard
quantization block) and FLAGS are the knobs the user set (with `--speculative-config` from a case's
`speculative_config`; `env` gives server environment variables a log shows were set).

Run: python bench/calibrate.py [--json] [--ledger] [--leave-one-out]   (also part of `make bench`)
`--ledger` adds each case's predicted per-GPU ledger and the headroom outside vLLM's budget.
`--leave-one-out` also scores every case with the fitted constants of
vllm_compile/data/planner-rules.json refitted on the other cases only (each constant on its own
`fitted_on` cases minus the held-out one), and reports that figure next to the in-sample one.
A constant marked `"fitted_against": "non_torch"` is refitted against the non-torch memory a
case's log prints (where it prints one) rather than through the KV residual.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CALIBRATION = ROOT / "bench" / "data" / "calibration" / "vllm-startups.jsonl"   # provenance: bench/data/README.md
CONFIGS = ROOT / "vllm_compile" / "data" / "model-configs"
GIB = 1 << 30

QUANT_BLOCKS = {
    "awq4": {"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True, "version": "gemm"},
    "gptq4": {"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": False, "sym": True},
    "fp8block": {"quant_method": "fp8", "activation_scheme": "dynamic", "fmt": "e4m3", "weight_block_size": [128, 128]},
    "bnb4": {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
             "bnb_4bit_compute_dtype": "bfloat16", "bnb_4bit_use_double_quant": False},
    "bnb4dq": {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
               "bnb_4bit_compute_dtype": "bfloat16", "bnb_4bit_use_double_quant": True},
}
SUCCESS = "started"


def load_cases():
    with open(CALIBRATION) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def model_argument(case, workdir: Path) -> str:
    """The repo id when the catalog's config is the model as logged; else a local folder with
    the config plus the case's quantization block (what `vllm serve /path` would read)."""
    if not case.get("quant_block"):
        return case["config_ref"]
    folder = workdir / case["id"]
    folder.mkdir(parents=True)
    config = json.loads((CONFIGS / case["config_ref"] / "config.json").read_text())
    config["quantization_config"] = QUANT_BLOCKS[case["quant_block"]]
    (folder / "config.json").write_text(json.dumps(config))
    extra = CONFIGS / case["config_ref"] / "hf_quant_config.json"
    if extra.exists():
        shutil.copy(extra, folder / extra.name)
    return str(folder)


def command_line(case, model: str, no_bf16: bool) -> list[str]:
    argv = ["predict", "--gpu", case["gpu"], "--vllm-version", case["vllm_version"], "--format", "json"]
    if case.get("memory_gib"):
        argv += ["--gpu-memory-gib", str(case["memory_gib"])]
    argv += ["--", "vllm", "serve", model]
    knobs = [("tensor_parallel_size", "--tensor-parallel-size"), ("pipeline_parallel_size", "--pipeline-parallel-size"),
             ("gpu_memory_utilization", "--gpu-memory-utilization"), ("max_model_len", "--max-model-len"),
             ("kv_cache_dtype", "--kv-cache-dtype"), ("max_num_seqs", "--max-num-seqs"), ("block_size", "--block-size"),
             ("max_num_batched_tokens", "--max-num-batched-tokens")]
    for field, flag in knobs:
        if case.get(field) is not None:
            argv += [flag, str(case[field])]
    if case.get("enforce_eager"):
        argv.append("--enforce-eager")
    if case.get("speculative_config"):
        argv += ["--speculative-config", json.dumps(case["speculative_config"], sort_keys=True)]
    # Knobs the user passed that the case has no field for are read from its logged command line.
    logged = " ".join(case.get("log_lines", [])).replace("=", " ").split()
    for flag in ("--max-num-batched-tokens", "--dtype"):
        value = next((logged[i + 1] for i, w in enumerate(logged[:-1]) if w == flag), None)
        if value is not None and flag not in argv:
            argv += [flag, value]
    if "--dtype" not in argv and no_bf16:
        argv += ["--dtype", "half"]
    return argv


def predict_case(case, workdir: Path) -> dict:
    from vllm_compile.resolve.hardware import lookup_gpu

    no_bf16 = not lookup_gpu(case["gpu"]).bf16  # a bf16 checkpoint starts there only with --dtype half
    argv = command_line(case, model_argument(case, workdir), no_bf16)
    # Several logged lengths exceed the config's own maximum (rope-scaled checkpoints): vLLM
    # accepted them only with this variable set.
    env = dict(os.environ, VLLM_ALLOW_LONG_MAX_MODEL_LEN="1", PYTHONPATH=str(ROOT))
    env.pop("VLLM_USE_V1", None)   # the logged start-ups left it unset (a case says so in its `env`)
    env.update(case.get("env") or {})
    done = subprocess.run([sys.executable, "-m", "vllm_compile", *argv], capture_output=True, text=True, env=env)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{case['id']}: predict exited {done.returncode}: {done.stderr.strip()}")
    plan = json.loads(done.stdout)
    plan["argv"] = argv
    return plan


def kind_of(case) -> str:
    """The kind a case exercises: speculative (it sets --speculative-config), else from its
    config: vision-language, hybrid, or text."""
    if case.get("speculative_config"):
        return "speculative"
    config = json.loads((CONFIGS / case["config_ref"] / "config.json").read_text())
    text = config.get("text_config") or config
    if any("linear" in str(t) or "mamba" in str(t) for t in text.get("layer_types") or []):
        return "hybrid"
    if any(key in text for key in ("hybrid_override_pattern", "attn_layer_period", "mamba_d_ssm", "attn_layer_indices")):
        return "hybrid"   # Nemotron-H, Jamba, Falcon-H1, Bamba: Mamba layers named by other keys
    if "full_attention_interval" in text and "linear_num_value_heads" in text:
        return "hybrid"   # Qwen3-Next: gated delta-net layers, full attention every `full_attention_interval`
    return "vision-language" if config.get("vision_config") else "text"


def ledger(plan: dict) -> str:
    g = plan["per_gpu"]
    parts = [("total", g["total_bytes"]), ("requested", g["requested_bytes"]), ("weights", g["weights_bytes"]),
             ("activation", g["activation_bytes"]), ("non-torch", g["non_torch_bytes"]),
             ("graphs", g["cuda_graph_bytes"]), ("kv", g["kv_cache_bytes"]),
             ("outside", g["total_bytes"] - g["requested_bytes"])]
    return f"tp{plan['tensor_parallel_size']} pp{plan['pipeline_parallel_size']} " + \
        " ".join(f"{name} {value / GIB:.2f}" for name, value in parts) + " GiB\n    $ vllm-compile " + \
        " ".join(plan["argv"])


def kv_residual(case, plan: dict) -> float | None:
    """The relative KV error a fit minimises: tokens when logged, else the KV-cache GiB (positive
    only: a negative logged KV memory says the start-up failed, which the verdict scores)."""
    measured = case["measured"]
    if measured.get("kv_cache_tokens") and measured["outcome"] in (SUCCESS, "kv_too_small_error"):
        return plan["kv_cache_tokens"] / measured["kv_cache_tokens"] - 1
    if measured.get("kv_cache_gib") and measured["kv_cache_gib"] > 0:
        return plan["per_gpu"]["kv_cache_bytes"] / GIB / measured["kv_cache_gib"] - 1
    return None


LOGGED_NON_TORCH = re.compile(r"non_torch_memory takes ([0-9.]+)GiB")


def logged_non_torch(case) -> float | None:
    """The non-torch GiB a V0 log prints as "non_torch_memory takes X GiB" (vLLM 0.7+, worker.py
    memory_profiling: CUDA used minus torch's reserved memory, from before the distributed set-up
    to after the profile run). The 0.6.4-0.6.6 lines ("non_torch_memory=X", "non_torch_memory X")
    subtracted torch's allocated bytes instead (PR #11809), so PyTorch's cached free blocks
    counted as non-torch there; those are not used."""
    for line in case.get("log_lines", []):
        found = LOGGED_NON_TORCH.search(line)
        if found:
            return float(found.group(1))
    return None


def verdict_right(case, plan: dict) -> bool:
    return (plan["verdict"] == "ok") == (case["measured"]["outcome"] == SUCCESS)


def _requests(cases, workdir: Path) -> dict:
    """Each case's predict request, built once (in-process: a refit plans every case many times)."""
    import contextlib
    import io

    from vllm_compile.commands.predict import _request
    from vllm_compile.resolve.hardware import lookup_gpu

    saved = {name: os.environ.get(name) for name in ("VLLM_ALLOW_LONG_MAX_MODEL_LEN", "VLLM_USE_V1")}
    out = {}
    try:
        for case in cases:
            # as predict_case's subprocesses run (the variables are read at request time)
            os.environ["VLLM_ALLOW_LONG_MAX_MODEL_LEN"] = "1"
            os.environ.pop("VLLM_USE_V1", None)
            os.environ.update(case.get("env") or {})
            argv = command_line(case, model_argument(case, workdir), not lookup_gpu(case["gpu"]).bf16)
            with contextlib.redirect_stderr(io.StringIO()):   # the flag-manifest notes, once per case
                out[case["id"]] = _request(case["gpu"], case.get("memory_gib"), case["vllm_version"],
                                           argv[argv.index("--") + 1:])
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return out


def _loss(names: set[str], held_out: str, by_id: dict, requests: dict, fitted: dict,
          against_non_torch: bool = False) -> float:
    """Squared residuals over the cases of `names` (less the held-out one), plus 1 per wrong
    verdict. `against_non_torch`: a case whose log prints its non-torch memory contributes that
    error in GiB instead of its KV residual."""
    from vllm_compile.plan import plan_deployment

    ids = {i for name in names for i in fitted[name]["fitted_on"]} - {held_out}
    total = 0.0
    for case_id in sorted(ids):
        case = by_id[case_id]
        plan = plan_deployment(requests[case_id]).as_json()
        logged = logged_non_torch(case) if against_non_torch else None
        r = plan["per_gpu"]["non_torch_bytes"] / GIB - logged if logged is not None else kv_residual(case, plan)
        total += (r if r is not None else 0.0) ** 2 + (0.0 if verdict_right(case, plan) else 1.0)
    return total


def refit(held_out: str, by_id: dict, requests: dict) -> tuple[dict[str, float], list[str]]:
    """Coordinate descent over the constants fitted on `held_out`, on their other cases: a coarse
    grid over each constant's range, then a finer one around the best point. A constant with no
    other case keeps its value (returned in the second list)."""
    from vllm_compile.plan import rules_data

    fitted = rules_data.fitted_constants()
    touched = sorted(n for n, c in fitted.items() if held_out in c["fitted_on"])
    values = {n: float(fitted[n]["value"]) for n in touched}
    alone = [n for n in touched if set(fitted[n]["fitted_on"]) == {held_out}]
    free = [n for n in touched if n not in alone]
    for name in free:
        lo, hi = fitted[name]["range"]
        best = (float("inf"), values[name])
        for grid in (9, 9):
            step = (hi - lo) / (grid - 1)
            for k in range(grid):
                trial = dict(values, **{name: lo + k * step})
                with rules_data.overridden(trial):
                    loss = _loss(set(free), held_out, by_id, requests, fitted,
                                 fitted[name].get("fitted_against") == "non_torch")
                best = min(best, (loss, lo + k * step))
            lo, hi = max(fitted[name]["range"][0], best[1] - step), min(fitted[name]["range"][1], best[1] + step)
        values[name] = best[1]
    return values, alone


def leave_one_out(cases) -> dict:
    """Per case: the plan with the constants refitted without it."""
    from vllm_compile.plan import plan_deployment, rules_data

    by_id = {case["id"]: case for case in cases}
    with tempfile.TemporaryDirectory() as workdir:
        requests = _requests(cases, Path(workdir))
        out = {}
        for case in cases:
            values, alone = refit(case["id"], by_id, requests)
            with rules_data.overridden(values):
                plan = plan_deployment(requests[case["id"]]).as_json()
            out[case["id"]] = {"plan": plan, "refit": values, "kept": alone}
    return out


def main(argv):
    rows, weights_ok, weights_n, kv_ok, kv_n, kv_v1_ok, kv_v1_n = [], 0, 0, 0, 0, 0, 0
    failures_caught = failures = false_alarms = started = 0
    loo_kv_ok = loo_failures_caught = loo_false_alarms = 0
    by_kind: dict[str, dict[str, list[int]]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        plans = [(case, predict_case(case, Path(workdir))) for case in load_cases()]
    loo = leave_one_out([case for case, _ in plans]) if "--leave-one-out" in argv else None
    for case, plan in plans:
        measured = case["measured"]
        row = {"id": case["id"], "vllm": case["vllm_version"], "verdict": plan["verdict"],
               "outcome": measured["outcome"], "ledger": ledger(plan), "kind": kind_of(case)}
        tally = by_kind.setdefault(row["kind"], {"weights": [0, 0], "kv": [0, 0], "kv_loo": [0, 0],
                                                 "kv_any": [0, 0], "kv_any_loo": [0, 0]})
        if measured.get("weights_gib"):
            predicted = plan["per_gpu"]["weights_bytes"] / GIB
            err = predicted / measured["weights_gib"] - 1
            row["weights"] = f"{predicted:.2f} vs {measured['weights_gib']:.2f} GiB ({err:+.1%})"
            weights_n += 1
            weights_ok += abs(err) <= 0.03
            tally["weights"][0] += abs(err) <= 0.03
            tally["weights"][1] += 1
        if measured.get("kv_cache_tokens") and measured["outcome"] in (SUCCESS, "kv_too_small_error"):
            err = plan["kv_cache_tokens"] / measured["kv_cache_tokens"] - 1
            row["kv_tokens"] = f"{plan['kv_cache_tokens']:,} vs {measured['kv_cache_tokens']:,} ({err:+.1%})"
            kv_n += 1
            kv_ok += abs(err) <= 0.10
            tally["kv"][0] += abs(err) <= 0.10
            tally["kv"][1] += 1
            if loo is not None:
                held = loo[case["id"]]["plan"]
                loo_err = held["kv_cache_tokens"] / measured["kv_cache_tokens"] - 1
                row["kv_tokens_loo"] = f"{held['kv_cache_tokens']:,} ({loo_err:+.1%})"
                loo_kv_ok += abs(loo_err) <= 0.10
                tally["kv_loo"][0] += abs(loo_err) <= 0.10
                tally["kv_loo"][1] += 1
            if case["engine"] == "v1":
                kv_v1_n += 1
                kv_v1_ok += abs(err) <= 0.10
        any_err = kv_residual(case, plan)
        if any_err is not None and measured["outcome"] in (SUCCESS, "kv_too_small_error"):
            # the per-kind KV capacity figure: tokens where the log gives them, else the KV-cache GiB
            if "kv_tokens" not in row:
                row["kv_gib"] = (f"{plan['per_gpu']['kv_cache_bytes'] / GIB:.2f} vs {measured['kv_cache_gib']:.2f} GiB "
                                 f"({any_err:+.1%})")
            tally["kv_any"][0] += abs(any_err) <= 0.10
            tally["kv_any"][1] += 1
            if loo is not None:
                loo_any = kv_residual(case, loo[case["id"]]["plan"])
                if "kv_tokens" not in row and loo_any is not None:
                    row["kv_gib_loo"] = f"{loo[case['id']]['plan']['per_gpu']['kv_cache_bytes'] / GIB:.2f} GiB ({loo_any:+.1%})"
                tally["kv_any_loo"][0] += loo_any is not None and abs(loo_any) <= 0.10
                tally["kv_any_loo"][1] += 1
        if measured["outcome"] == SUCCESS:
            started += 1
            false_alarms += plan["verdict"] != "ok"
        else:
            failures += 1
            failures_caught += plan["verdict"] != "ok"
        if loo is not None:
            held = loo[case["id"]]
            row["verdict_loo"] = held["plan"]["verdict"]
            row["refit"] = {name: round(value, 4) for name, value in held["refit"].items()}
            if held["kept"]:
                row["refit_kept"] = held["kept"]
            if measured["outcome"] == SUCCESS:
                loo_false_alarms += held["plan"]["verdict"] != "ok"
            else:
                loo_failures_caught += held["plan"]["verdict"] != "ok"
        rows.append(row)
    summary = {
        "cases": len(rows),
        "weights_within_3pct": f"{weights_ok}/{weights_n}",
        "kv_tokens_within_10pct": f"{kv_ok}/{kv_n}",
        "kv_tokens_within_10pct_v1": f"{kv_v1_ok}/{kv_v1_n}",
        "failures_predicted": f"{failures_caught}/{failures}",
        "working_predicted_to_fail": f"{false_alarms}/{started}",
    }
    for kind, tally in sorted(by_kind.items()):
        summary[f"{kind}: weights_within_3pct"] = "{}/{}".format(*tally["weights"])
        summary[f"{kind}: kv_tokens_within_10pct"] = "{}/{}".format(*tally["kv"])
        if loo is not None:
            summary[f"{kind}: kv_tokens_within_10pct_loo"] = "{}/{}".format(*tally["kv_loo"])
        summary[f"{kind}: kv_within_10pct (tokens, else GiB)"] = "{}/{}".format(*tally["kv_any"])
        if loo is not None:
            summary[f"{kind}: kv_within_10pct_loo (tokens, else GiB)"] = "{}/{}".format(*tally["kv_any_loo"])
    if loo is not None:
        summary |= {
            "kv_tokens_within_10pct_loo": f"{loo_kv_ok}/{kv_n}",
            "failures_predicted_loo": f"{loo_failures_caught}/{failures}",
            "working_predicted_to_fail_loo": f"{loo_false_alarms}/{started}",
        }
    if "--json" in argv:
        print(json.dumps({"cases": rows, "summary": summary}, indent=2))
        return 0
    for row in rows:
        print(f"{row['id']:<48} v{row['vllm']:<8} {row['verdict']:<18} outcome={row['outcome'][:20]:<20} "
              f"weights={row.get('weights', '-'):<34} kv={row.get('kv_tokens', row.get('kv_gib', '-'))}")
        if "--ledger" in argv:
            print("    " + row["ledger"])
        if loo is not None:
            kept = f"; kept (no other case): {', '.join(row['refit_kept'])}" if row.get("refit_kept") else ""
            print(f"    leave-one-out: {row['verdict_loo']:<14} kv={row.get('kv_tokens_loo', row.get('kv_gib_loo', '-')):<22} "
                  f"refit {row['refit']}{kept}")
    print()
    for key, value in summary.items():
        print(f"{key:<44} {value}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
