"""`compile` with model.lora_adapters: mounts, vLLM flags and the planner, end to end, checked by
the real validators and by running the scripts with a fake docker/vllm."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from click.testing import CliRunner

from vllm_compile.cli import cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import validators as v  # noqa: E402

SPEC = """version: 1
name: llama-lora
model:
  id: meta-llama/Llama-3.1-8B-Instruct
  lora_adapters:
    - name: sql
      path: adapters/sql
    - name: support/v2
      path: ./adapters/support
hardware:
  gpu: H100-80GB
workload:
  max_model_len: 8192
  concurrency: 4
engine:
  version: "0.33.0"
server:
  api_key_env: KEY
output:
  formats: [FORMATS]
"""


def write_spec(root: Path, formats="compose, docker-run, serve", ranks=(16, 24)) -> Path:
    for name, rank in zip(("sql", "support"), ranks):
        (root / "adapters" / name).mkdir(parents=True, exist_ok=True)
        (root / "adapters" / name / "adapter_config.json").write_text(json.dumps({"r": rank, "peft_type": "LORA"}))
    spec = root / "spec.yaml"
    spec.write_text(SPEC.replace("FORMATS", formats))
    return spec


def test_adapters_mounted_read_only_and_served(workdir):
    write_spec(workdir)
    result = CliRunner().invoke(cli, ["compile", "spec.yaml"])
    assert result.exit_code == 0, result.output
    out = workdir / "deploy" / "llama-lora"
    config = v.check_compose(out / "compose.yaml", {"HF_TOKEN": "x", "KEY": "k"})
    service = config["services"]["llama-lora"]
    mounts = {m["target"]: m for m in service["volumes"] if m["type"] == "bind"}
    assert mounts["/adapters/sql"]["read_only"] and mounts["/adapters/sql"]["source"] == str(workdir / "adapters/sql")
    assert mounts["/adapters/support-v2"]["read_only"]
    command = service["command"]
    tail = command[command.index("--enable-lora"):]
    # two adapters: two slots; ranks 16 and 24: 32, the next rank vLLM accepts
    assert tail == ["--enable-lora", "--max-loras", "2", "--max-lora-rank", "32", "--lora-modules",
                    "sql=/adapters/sql", "support/v2=/adapters/support-v2"]

    v.check_script(out / "docker-run.sh")
    result, calls = v.run_with_fakes(out / "docker-run.sh", workdir, {"HOME": "/home/u", "HF_TOKEN": "x", "KEY": "k"})
    assert result.returncode == 0, result.stderr
    argv = calls[-1]["argv"]
    mounted = [argv[i + 1] for i, w in enumerate(argv) if w == "-v"]
    assert f"{out}/../../adapters/sql:/adapters/sql:ro" in mounted
    assert argv[-3:] == ["--lora-modules", "sql=/adapters/sql", "support/v2=/adapters/support-v2"]

    v.check_script(out / "serve.sh")
    result, [call] = v.run_with_fakes(out / "serve.sh", workdir, {"HF_TOKEN": "x", "KEY": "k"})
    assert result.returncode == 0, result.stderr
    modules = call["argv"][call["argv"].index("--lora-modules") + 1:][:2]
    assert modules == [f"sql={out}/../../adapters/sql", f"support/v2={out}/../../adapters/support"]


def test_plan_counts_the_adapters(workdir):
    write_spec(workdir)
    with_adapters = CliRunner().invoke(cli, ["plan", "spec.yaml", "--format", "json"])
    (workdir / "spec.yaml").write_text(SPEC.replace("FORMATS", "compose").replace(
        "  lora_adapters:\n    - name: sql\n      path: adapters/sql\n    - name: support/v2\n      path: ./adapters/support\n",
        ""))
    without = CliRunner().invoke(cli, ["plan", "spec.yaml", "--format", "json"])
    assert with_adapters.exit_code == 0 and without.exit_code == 0, with_adapters.output + without.output
    grown = json.loads(with_adapters.stdout)["per_gpu"]["weights_bytes"] - json.loads(without.stdout)["per_gpu"]["weights_bytes"]
    assert grown > 0


def test_rank_vllm_does_not_accept_is_refused(workdir):
    write_spec(workdir, ranks=(16, 1024))
    result = CliRunner().invoke(cli, ["compile", "spec.yaml"])
    assert result.exit_code == 2
    assert "spec.yaml:8:7: error: model.lora_adapters[1]: adapter 'support/v2' has LoRA rank 1024" in result.output
    assert "one of 1, 8, 16, 32, 64, 128, 256, 320, 512" in result.output
    assert not (workdir / "deploy").exists()


def test_kubernetes_cannot_mount_a_local_adapter(workdir):
    write_spec(workdir, formats="kubernetes")
    result = CliRunner().invoke(cli, ["compile", "spec.yaml"])
    assert result.exit_code == 2
    assert "spec.yaml:7:7: error: model.lora_adapters[0].path: a local adapter folder cannot be mounted" in result.output
