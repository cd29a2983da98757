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


# --- `--flag.key value`: vLLM's parser folds dotted keys into the flag's JSON object -------------

def _limits(argv, version="0.33.0"):
    engine, problems = parse_engine_args(argv, load_manifest(version))
    return engine, [p for p in problems if p.severity == "error"]


@pytest.mark.parametrize("dotted", [
    ["--limit-mm-per-prompt.image", "2", "--limit-mm-per-prompt.video", "0"],
    ["--limit-mm-per-prompt.image=2", "--limit_mm_per_prompt.video=0"],
    ["--limit-mm-per-prompt.video", "0", "--enforce-eager", "--limit-mm-per-prompt.image", "2"],
    ["--limit-mm-per-prompt.image.count", "2", "--limit-mm-per-prompt.video", "0"],
])
def test_dotted_limit_mm_per_prompt_is_the_same_typed_value_as_the_json_form(dotted):
    json_form, problems = _limits(["--limit-mm-per-prompt", '{"image": 2, "video": 0}'])
    assert not problems and json_form.limit_mm_per_prompt == (("image", 2), ("video", 0))
    engine, problems = _limits(dotted)
    assert not problems
    assert engine.limit_mm_per_prompt == json_form.limit_mm_per_prompt
    # One flag, at the first dotted token, holding the merged object (what vLLM hands argparse).
    [arg] = [a for a in engine.args if a.dest == "limit_mm_per_prompt"]
    assert arg.index == 0 and arg.option == "--limit-mm-per-prompt"
    assert arg.value in ({"image": 2, "video": 0}, {"video": 0, "image": 2}, {"image": {"count": 2}, "video": 0})


def test_dotted_keys_come_last_and_replace_the_json_form_as_in_vllm():
    # vLLM appends the object built from dotted keys after every other argument.
    engine, problems = _limits(["--limit-mm-per-prompt.audio", "1", "--limit-mm-per-prompt", '{"image": 3}'])
    assert not problems and engine.limit_mm_per_prompt == (("audio", 1),)


def test_dotted_values_and_lists_follow_the_release():
    engine, problems = _limits(["--compilation-config.cudagraph_capture_sizes+", "1,2",
                                "--compilation-config.cudagraph_capture_sizes+=4", "--compilation-config.mode", "3"])
    assert not problems
    assert engine.values()["compilation_config"] == {"cudagraph_capture_sizes": ["1", "2", "4"], "mode": 3}
    # A single-dash alias gathers its own object; the objects follow in the order their first keys
    # came, and argparse keeps the last.
    engine, problems = _limits(["-cc.mode", "3", "--compilation-config.mode", "2", "-cc.level", "1"])
    assert not problems and engine.values()["compilation_config"] == {"mode": 2}
    # 0.9.1 keeps the text and knows neither `+` lists nor single-dash keys.
    engine, problems = _limits(["--compilation-config.level", "3"], "0.9.1")
    assert not problems and engine.values()["compilation_config"] == {"level": "3"}
    _, problems = _limits(["-O.level", "3"], "0.9.1")
    assert problems


def test_a_dotted_key_given_twice_warns_and_the_last_wins():
    engine, problems = parse_engine_args(["--limit-mm-per-prompt.image", "2", "--limit-mm-per-prompt.image", "5"],
                                         load_manifest("0.33.0"))
    assert engine.limit_mm_per_prompt == (("image", 5),)
    assert [(p.code, p.severity, p.index) for p in problems] == [("VC514", "warning", 2)]


def test_dotted_keys_on_a_flag_that_is_not_an_object_are_refused_as_vllm_does():
    _, problems = _limits(["--max-num-seqs.x", "3"])
    assert [p.code for p in problems] == ["VC506"] and "--max-num-seqs" in problems[0].message
    _, problems = _limits(["--enforce-eager.x", "1"])
    assert [p.code for p in problems] == ["VC504"]
    _, problems = _limits(["--no-such-flag.x", "1"])
    assert [p.code for p in problems] == ["VC501"]
    _, problems = _limits(["--limit-mm-per-prompt.image"])
    assert [p.code for p in problems] == ["VC505"]


@pytest.mark.parametrize("version,codes,limits", [
    ("0.8.5", ["VC501"], ()),                    # no dotted keys before 0.9.0: an unknown flag
    ("0.9.0", ["VC526"], ()),                    # kept as the text "2" by a release that converts nothing
    ("0.9.1", [], (("image", 2),)),              # text, converted by the pydantic configs
    ("0.9.2", [], (("image", 2),)),              # read as JSON
])
def test_dotted_limit_mm_per_prompt_is_release_gated(version, codes, limits):
    engine, problems = _limits(["--limit-mm-per-prompt.image", "2"], version)
    assert [p.code for p in problems] == codes
    assert engine.limit_mm_per_prompt == limits
    if version == "0.8.5":
        assert "came in vLLM 0.9.0" in problems[0].fix and '{"image": ...}' in problems[0].fix


def test_a_limit_that_is_not_a_count_is_an_input_error():
    _, problems = _limits(["--limit-mm-per-prompt", '{"image": "two"}'])
    assert [p.code for p in problems] == ["VC522"]
    _, problems = _limits(["--limit-mm-per-prompt.image", "-1"])
    assert [p.code for p in problems] == ["VC522"]


def test_predict_and_extra_args_read_the_dotted_form(tmp_path):
    serve, problems = parse_serve_command(["vllm", "serve", "m", "--limit-mm-per-prompt.image", "0",
                                           "--limit-mm-per-prompt.video=0"], load_manifest("0.33.0"))
    assert not problems and serve.limit_mm_per_prompt == (("image", 0), ("video", 0))
    assert serve.find("limit_mm_per_prompt").index == 3
    c = pipeline.run(_spec(tmp_path, '["--limit-mm-per-prompt.image", "0", "--limit-mm-per-prompt.video=0"]'),
                     until=pipeline.plan)
    assert c.spec.deployments[0].engine_args.limit_mm_per_prompt == (("image", 0), ("video", 0))


def test_a_text_limit_on_0_9_0_is_located_at_its_item(tmp_path):
    path = _spec(tmp_path, '["--enable-prefix-caching", "--limit-mm-per-prompt.image", "2"]')
    text = open(path).read().replace('"0.33.0"', '"0.9.0"')
    open(path, "w").write(text)
    diags = _errors(path, until=pipeline.parse)
    assert any(d.code == "VC526" and d.key == "engine.extra_args[1]" for d in diags), [d.format() for d in diags]


@pytest.mark.parametrize("version,value,code", [
    ("0.10.1", '{"image": "2"}', None),               # pydantic dict[str, int] converts the text
    ("0.11.1", '{"image": "2"}', "VC526"),            # the options validator unpacks a bare text
    ("0.11.1", '{"image": {"count": "2"}}', None),    # ... but converts it inside an options object
    ("0.10.1", '{"image": {"count": 2}}', "VC522"),   # options objects came in 0.11.1
    ("0.33.0", '{"image": {"width": 512}}', None),    # no count: vLLM's default 999
    ("0.10.1", '{"image": -1}', None),                # no lower bound before the options (count >= 0)
    ("0.33.0", '{"image": -1}', "VC522"),
])
def test_limit_mm_per_prompt_values_follow_the_release_config(version, value, code):
    engine, problems = _limits(["--limit-mm-per-prompt", value], version)
    assert [p.code for p in problems] == ([code] if code else [])
    if value == '{"image": {"width": 512}}':
        assert engine.limit_mm_per_prompt == (("image", 999),)
