"""Engine arguments are parsed once (vllm_compile.engine_args): plan, lower and predict read
the same typed object, and value checks apply to a spec's extra_args at their list item."""
from __future__ import annotations


import pytest

from vllm_compile import pipeline
from vllm_compile.diagnostics import CompileError
from vllm_compile.engine_args import parse_engine_args, parse_serve_command
from vllm_compile.flags import load_manifest

SPEC = """\
version: 1
name: chat
model:
  id: meta-llama/Llama-3.1-8B-Instruct
hardware:
  gpu: H100-80GB
  count: 1
workload:
  max_model_len: 8192
engine:
  version: "0.33.0"
{engine}  extra_args: {extra}
"""


def _spec(tmp_path, extra: str, engine: str = "") -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.format(extra=extra, engine=engine))
    return str(path)


def _errors(path: str, until=pipeline.plan):
    with pytest.raises(CompileError) as exc:
        pipeline.run(path, until=until)
    return exc.value.diagnostics


@pytest.mark.parametrize("extra", ['["-dp", "2"]', '["--data-parallel-size", "2"]', '["--data-parallel-size=2"]',
                                   '["--data_parallel_size", "2"]'])
def test_data_parallel_in_any_spelling_is_refused_at_its_item(tmp_path, extra):
    [diag] = _errors(_spec(tmp_path, extra))
    assert diag.key == "engine.extra_args[0]" and (diag.line, diag.column) == (12, 16)
    assert "data_parallel_size 2 needs at least 2 GPUs" in diag.message


def test_every_spelling_gives_the_same_typed_object():
    manifest = load_manifest("0.33.0")
    forms = [["-tp", "2", "--enable-lora", "--max-lora-rank=32", "--max-model-len", "8K"],
             ["--tensor-parallel-size=2", "--enable-lora", "--max-lora-rank", "32", "--max_model_len", "8192"]]
    parsed = [parse_engine_args(f, manifest) for f in forms]
    for engine, problems in parsed:
        assert not problems
        assert (engine.tensor_parallel_size, engine.enable_lora, engine.max_lora_rank) == (2, True, 32)
        assert engine.max_model_len == 8192
    serve, problems = parse_serve_command(["vllm", "serve", "m", *forms[0]], manifest)
    assert not problems and serve.model == "m" and serve.find("tensor_parallel_size").index == 3


def test_boolean_optional_and_json_values():
    manifest = load_manifest("0.33.0")
    engine, problems = parse_engine_args(
        ["--no-enable-prefix-caching", "--speculative-config", '{"method": "ngram", "num_speculative_tokens": 2}'],
        manifest)
    assert not problems
    assert engine.values()["enable_prefix_caching"] is False
    assert engine.speculative_config == {"method": "ngram", "num_speculative_tokens": 2}


@pytest.mark.parametrize("extra,fragment", [
    ('["--max-lora-rank", "inf"]', "--max-lora-rank"),
    ('["--cpu-offload-gb", "nan"]', "not a finite number"),
    ('["--cpu-offload-gb", "-1"]', "non-negative"),
    ('["--max-loras", "0"]', "max_loras must be >= 1"),
])
def test_bad_values_in_extra_args_are_located_input_errors(tmp_path, extra, fragment):
    # Before: --max-lora-rank inf was an OverflowError in the planner (values read before checked).
    diags = _errors(_spec(tmp_path, extra), until=pipeline.parse)
    assert any(d.key.startswith("engine.extra_args[") and d.line == 12 and fragment in (d.message + (d.fix or ""))
               for d in diags), [d.format() for d in diags]


def test_a_flag_a_spec_key_sets_clashes_naming_both(tmp_path):
    [diag] = _errors(_spec(tmp_path, '["--enable-prefix-caching", "-tp", "4"]', engine="  tensor_parallel_size: 2\n"),
                     until=pipeline.parse)
    assert diag.key == "engine.extra_args[1]" and (diag.line, diag.column) == (13, 43)
    assert "-tp 4" in diag.message and "engine.tensor_parallel_size: 2" in diag.message


def test_a_flag_a_spec_key_owns_is_refused_even_when_the_key_is_unset(tmp_path):
    # --block-size in extra_args would have been emitted while the planner used the default block.
    [diag] = _errors(_spec(tmp_path, '["--block-size", "32"]'), until=pipeline.parse)
    assert diag.key == "engine.extra_args[0]" and "engine.block_size" in diag.fix


def test_parse_stage_hands_the_typed_object_on(tmp_path):
    c = pipeline.run(_spec(tmp_path, '["--enable-lora", "--max-loras", "2", "--cpu-offload-gb=1.5"]'),
                     until=pipeline.plan)
    engine = c.spec.deployments[0].engine_args
    assert (engine.enable_lora, engine.max_loras, engine.cpu_offload_gb) == (True, 2, 1.5)
    assert [a.index for a in engine.args] == [0, 1, 3]


@pytest.mark.parametrize("flag", ["--data-parallel-size-local", "-dpl", "--data_parallel_size_local"])
def test_multi_node_launch_flags_are_refused_in_any_spelling(tmp_path, flag):
    path = tmp_path / "nodes.yaml"
    path.write_text('version: 1\nname: r1\nmodel:\n  id: deepseek-ai/DeepSeek-R1\n  trust_remote_code: true\n'
                    'hardware:\n  gpu: H100-SXM-80GB\n  count: 8\n  nodes: 2\n  network: infiniband\n'
                    'workload:\n  max_model_len: 16384\n  concurrency: 4\nengine:\n  version: "0.33.0"\n'
                    f'  extra_args: ["--enable-prefix-caching", "{flag}", "1"]\noutput:\n  formats: [lws, ray]\n')
    diags = _errors(str(path), until=pipeline.lower)
    assert any(d.key == "engine.extra_args[1]" and "multi-node launch" in d.message for d in diags), \
        [d.format() for d in diags]
