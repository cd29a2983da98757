import json

from click.testing import CliRunner

from vllm_compile.cli import cli
from vllm_compile.resolve.hardware import catalog

GIB = 1 << 30


def run(*args):
    return CliRunner().invoke(cli, ["gpus", *args])


def test_text_table_lists_every_gpu():
    result = run()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["NAME", "VENDOR", "GiB", "CC"]
    names = [line.split()[0] for line in lines[1:len(catalog()) + 1]]
    assert names == [g.name for g in catalog()]
    h100 = next(line for line in lines if line.startswith("H100-SXM-80GB "))
    assert "79.18" in h100 and "9.0" in h100 and "NVIDIA H100 80GB HBM3" in h100
    assert any(line.startswith("MI300X ") and "ROCm" in line for line in lines)


def test_json():
    result = run("--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    rows = {row["name"]: row for row in data["gpus"]}
    assert len(rows) == len(catalog())
    l4 = rows["L4"]
    assert l4["memory_bytes"] == round(22.04 * GIB) and l4["memory_gib"] == 22.04
    assert (l4["compute_capability"], l4["bf16"], l4["fp8"]) == ("8.9", True, True)
    assert l4["nvidia_smi_names"] == ["NVIDIA L4"] and l4["memory_note"].startswith("measured")
    assert "H100 -> H100-SXM-80GB" in data["defaults"]
    assert run("--format", "json").output == result.output


def test_bad_format_is_usage_error():
    assert run("--format", "yaml").exit_code == 2
