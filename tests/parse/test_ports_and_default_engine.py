"""Issue 10 item 8: free ports in a deployments: list, and an omitted engine: block."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from vllm_compile import pipeline
from vllm_compile.cli import cli
from vllm_compile.diagnostics import CompileError
from vllm_compile.flags import versions
from vllm_compile.versions import NEWEST_RELEASE

HOST = """\
version: 1
hardware:
  gpu: H100-80GB
  count: 4
deployments:
"""


def _dep(name: str, port: int | None = None, engine: bool = True) -> str:
    text = f"  - name: {name}\n    model: {{id: Qwen/Qwen3-8B}}\n    workload: {{max_model_len: 8192}}\n"
    if engine:
        text += '    engine: {version: "0.33.0"}\n'
    if port is not None:
        text += f"    server: {{port: {port}}}\n"
    return text


def _ports(tmp_path, *deps: str) -> list[int]:
    path = tmp_path / "host.yaml"
    path.write_text(HOST + "".join(deps))
    spec = pipeline.run(str(path), until=pipeline.parse).spec
    return [d.spec.server.port for d in spec.deployments]


def test_unset_ports_take_the_next_free_one_in_listing_order(tmp_path):
    assert _ports(tmp_path, _dep("a"), _dep("b"), _dep("c")) == [8000, 8001, 8002]


def test_explicit_ports_never_move(tmp_path):
    # b and d pin 8000 and 8002: a and c fill the gaps after them, in order.
    assert _ports(tmp_path, _dep("a"), _dep("b", 8000), _dep("c"), _dep("d", 8002)) == [8001, 8000, 8003, 8002]


def test_a_clash_between_explicit_ports_stays_an_error(tmp_path):
    path = tmp_path / "host.yaml"
    path.write_text(HOST + _dep("a", 8005) + _dep("b") + _dep("c", 8005))
    with pytest.raises(CompileError) as exc:
        pipeline.run(str(path), until=pipeline.parse)
    [diag] = exc.value.diagnostics
    assert diag.key == "deployments[2].server.port" and "8005" in diag.message


def test_newest_release_is_the_flag_historys_last():
    assert NEWEST_RELEASE == versions()[-1]


def test_an_omitted_engine_uses_the_newest_release_and_compile_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "host.yaml").write_text(HOST + _dep("a", engine=False) + _dep("b"))
    result = CliRunner().invoke(cli, ["compile", "host.yaml"])
    assert result.exit_code == 0, result.output
    spec = pipeline.run("host.yaml", until=pipeline.parse).spec
    assert [d.spec.engine.version for d in spec.deployments] == [NEWEST_RELEASE, "0.33.0"]
    lines = [line for line in result.stderr.splitlines() if line.startswith(("a:", "b:"))]
    assert lines[0].endswith(f"engine.version not set: using {NEWEST_RELEASE}, the newest bundled release")
    assert "engine.version not set" not in lines[1]
    assert f"vllm/vllm-openai:v{NEWEST_RELEASE}" in (tmp_path / "deploy" / "compose.yaml").read_text()


def test_a_single_deployment_may_omit_engine(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "one.yaml").write_text("version: 1\nname: one\nmodel: {id: Qwen/Qwen3-8B}\n"
                                       "hardware: {gpu: H100-80GB}\nworkload: {max_model_len: 8192}\n")
    result = CliRunner().invoke(cli, ["compile", "one.yaml"])
    assert result.exit_code == 0, result.output
    assert "engine.version not set: using" in result.stderr
