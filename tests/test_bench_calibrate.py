"""The calibration bench (bench/calibrate.py, run by `make bench`) end to end: every real vLLM
start-up in bench/data/calibration goes through the `predict` command, and the planner keeps the
accuracy the closing notes report. A planner change that loses a case fails here."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _ratio(text: str) -> tuple[int, int]:
    hit, total = text.split("/")
    return int(hit), int(total)


def test_every_calibration_case_runs_through_predict_and_keeps_its_accuracy():
    done = subprocess.run([sys.executable, str(REPO / "bench" / "calibrate.py"), "--json"], capture_output=True,
                          text=True, timeout=300, check=True)
    report = json.loads(done.stdout)
    cases = [json.loads(line) for line in (REPO / "bench" / "data" / "calibration" / "vllm-startups.jsonl")
             .read_text().splitlines() if line.strip()]
    assert [row["id"] for row in report["cases"]] == [case["id"] for case in cases]
    summary = report["summary"]
    caught, failures = _ratio(summary["failures_predicted"])
    assert caught == failures > 0                        # every start-up failure is predicted
    alarms, started = _ratio(summary["working_predicted_to_fail"])
    assert alarms * 10 <= started                        # at most 1 in 10 working start-ups refused
    kv_ok, kv_n = _ratio(summary["kv_tokens_within_10pct"])
    assert kv_ok * 10 >= kv_n * 7
    v1_ok, v1_n = _ratio(summary["kv_tokens_within_10pct_v1"])
    assert v1_ok * 10 >= v1_n * 8
    weights_ok, weights_n = _ratio(summary["weights_within_3pct"])
    assert weights_ok == weights_n > 0
    # The bitsandbytes start-up (vLLM 0.7.2 loading a double-quantized checkpoint, as its log
    # says): the uint8 absmax with its second-level scales, not an fp32 one (+5.4 % before).
    # Speculative decoding start-ups (a --speculative-config of the case) are a kind of their own,
    # scored on the KV-cache GiB where the log gives no token count (the 0.8.4 n-gram start-up,
    # which vLLM ran on V0).
    spec = [row for row in report["cases"] if row["kind"] == "speculative"]
    assert len(spec) >= 2 and all("weights" in row for row in spec)
    spec_ok, spec_n = _ratio(summary["speculative: kv_within_10pct (tokens, else GiB)"])
    assert spec_ok == spec_n > 0
    [bnb] = [row for row in report["cases"] if row["id"].startswith("file4484-")]
    assert bnb["vllm"] == "0.7.2" and "(-0.2%)" in bnb["weights"]


def test_leave_one_out_refits_only_the_constants_fitted_on_the_held_out_case():
    # bench/calibrate.py --leave-one-out: a held-out case's refit touches exactly the constants
    # whose `fitted_on` lists it (planner-rules.json); one fitted on that case alone keeps its value.
    import importlib.util
    import tempfile

    from vllm_compile.plan import rules_data

    spec = importlib.util.spec_from_file_location("calibrate", REPO / "bench" / "calibrate.py")
    calibrate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(calibrate)
    cases = calibrate.load_cases()
    by_id = {c["id"]: c for c in cases}
    held = "vllm17469-4xa10-qwen3-30b-a3b-tp4"
    touched = {n for n, c in rules_data.fitted_constants().items() if held in c["fitted_on"]}
    with tempfile.TemporaryDirectory() as workdir:
        requests = calibrate._requests([by_id[held]], Path(workdir))
        values, alone = calibrate.refit(held, by_id, requests)
    assert set(values) == touched == {"cuda_context_gib"} and alone == ["cuda_context_gib"]
    assert values["cuda_context_gib"] == rules_data.constant("cuda_context_gib")


def _calibrate_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("calibrate", REPO / "bench" / "calibrate.py")
    calibrate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(calibrate)
    return calibrate


def test_non_torch_constants_are_fitted_against_the_logged_non_torch_memory():
    # Where a V0 0.7+ log prints "non_torch_memory takes X GiB" the non-torch constants are
    # refitted against X; the 0.6.4-0.6.6 lines counted torch's cached blocks too and are skipped.
    calibrate = _calibrate_module()
    by_id = {c["id"]: c for c in calibrate.load_cases()}
    assert calibrate.logged_non_torch(by_id["file2090-8xh200-deepseek-r1-tp8-u085"]) == 7.16
    assert calibrate.logged_non_torch(by_id["file3873-4x22g-qwen3-30b-a3b-tp4-131k-yarn"]) == 0.20
    assert calibrate.logged_non_torch(by_id["vllm10511-80g-llama3-8b-tp1"]) is None        # "non_torch_memory 1.79GiB"
    assert calibrate.logged_non_torch(by_id["vllm10517-rtx3090-llama31-8b-20k"]) is None   # "non_torch_memory=0.35GiB"
    # The loss of a non-torch refit on file3873 alone is its non-torch error squared in GiB:
    # 0.15 + 3 x 0.03 = 0.24 GiB predicted (rounded to the byte) against 0.20 logged.
    import tempfile

    held = "file3873-4x22g-qwen3-30b-a3b-tp4-131k-yarn"
    fitted = {"non_torch_per_extra_rank_gib": {"fitted_on": [held]}}
    with tempfile.TemporaryDirectory() as workdir:
        requests = calibrate._requests([by_id[held]], Path(workdir))
    loss = calibrate._loss({"non_torch_per_extra_rank_gib"}, "", by_id, requests, fitted, against_non_torch=True)
    predicted = (161_061_273 + 3 * 32_212_254) / (1 << 30)
    assert abs(loss - (predicted - 0.20) ** 2) < 1e-12


def test_cases_are_reported_per_model_kind_from_their_config():
    # Qwen3-Next names its gated delta-net layers by `linear_*` keys and `full_attention_interval`,
    # with no `layer_types`: a hybrid case, like the Nemotron-H ones (hybrid_override_pattern).
    calibrate = _calibrate_module()
    kinds = {c["id"]: calibrate.kind_of(c) for c in calibrate.load_cases()}
    assert kinds["file7292-2xh200-qwen3-next-80b-a3b-instruct-tp2"] == "hybrid"
    assert kinds["agentlog-h100-94g-nemotron-cascade2-30b-nvfp4-262k"] == "hybrid"
    assert kinds["raydocs-l4-qwen25vl-3b-8k-v011"] == "vision-language"
    assert kinds["vllm10511-80g-llama3-8b-tp1"] == "text"
