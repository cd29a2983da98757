"""Schema and semantic validation in the parse stage: wrong types, unknown keys with
did-you-mean, missing keys, all violations at once, inline secrets, output folders, and
several deployments in one file."""
from __future__ import annotations

import pytest

from parse_support import MINIMAL, SPEC_PATH, by_key, errors_of, everything_printed, parse_text

# --------------------------------------------------------------------------------------------
# Wrong types


@pytest.mark.parametrize("extra, key, expected_word", [
    ("hardware:\n  gpu: H100\n  count: two\n", "hardware.count", "integer"),
    ("workload:\n  max_model_len: long\n", "workload.max_model_len", "integer"),
    ("engine:\n  version: \"0.33.0\"\n  enforce_eager: maybe\n", "engine.enforce_eager", "true or false"),
    ("engine:\n  version: \"0.33.0\"\n  extra_args: --seed 7\n", "engine.extra_args", "list"),
    ("engine:\n  version: \"0.33.0\"\n  gpu_memory_utilization: lots\n", "engine.gpu_memory_utilization", "number"),
])
def test_wrong_type_names_key_found_and_expected(extra, key, expected_word):
    base = "version: 1\nname: a\nmodel:\n  id: a/b\n"
    text = base + extra
    if "hardware:" not in extra:
        text += "hardware:\n  gpu: H100\n"
    if "engine:" not in extra:
        text += "engine:\n  version: \"0.33.0\"\n"
    ds = by_key(errors_of(text))
    assert key in ds, sorted(k or "" for k in ds)
    d = ds[key][0]
    assert expected_word in (d.expected or "")
    assert d.found is not None and d.fix
    assert d.line is not None and d.column is not None


def test_unquoted_version_is_a_wrong_type_with_a_quoting_fix():
    d = by_key(errors_of(MINIMAL.replace('version: "0.33.0"', "version: 0.33")))["engine.version"][0]
    assert d.found == "0.33"
    assert '"0.33.0"' in d.fix
    assert (d.line, d.column) == (8, 3)


def test_spec_version_other_than_one_refused():
    d = by_key(errors_of(MINIMAL.replace("version: 1", "version: 2", 1)))["version"][0]
    assert d.found == "2" and (d.line, d.column) == (1, 1)


@pytest.mark.parametrize("value", ["Llama_Chat", "-lead", "a" * 64, "trail-"])
def test_name_must_be_a_dns_label(value):
    d = by_key(errors_of(MINIMAL.replace("name: llama-chat", f"name: {value}")))["name"][0]
    assert "DNS-1123" in (d.expected or "") or "63 characters" in d.message
    assert (d.line, d.column) == (2, 1)


@pytest.mark.parametrize("field, value", [
    ("hardware.count", "0"), ("server.port", "70000"), ("engine.gpu_memory_utilization", "1.5"),
    ("engine.gpu_memory_utilization", "0"), ("workload.concurrency", "0"),
])
def test_out_of_range_values_refused(field, value):
    section, leaf = field.split(".")
    text = MINIMAL
    if section in ("hardware", "engine"):
        text = text.replace(f"{section}:\n", f"{section}:\n  {leaf}: {value}\n")
    else:
        text += f"{section}:\n  {leaf}: {value}\n"
    d = by_key(errors_of(text))[field][0]
    assert d.found == value and "range" in d.message


@pytest.mark.parametrize("extra, key", [
    ("  count: \"2\"\n", "hardware.count"),       # a quoted number is a string, not an integer
    ("  count: true\n", "hardware.count"),        # a boolean is not an integer
    ("  count: 2.5\n", "hardware.count"),
])
def test_lax_coercions_are_refused_like_the_json_schema_does(extra, key):
    # The JSON Schema (what editors and `check-jsonschema` enforce) says integer; parse must not
    # silently coerce "2" or true into 2, or a spec the editor flags would still compile.
    text = MINIMAL.replace("  gpu: H100-80GB\n", "  gpu: H100-80GB\n" + extra)
    ds = by_key(errors_of(text))
    assert key in ds


def test_lax_boolean_string_refused():
    # Same rule: "true" (a quoted string) must not become True.
    ds = by_key(errors_of(MINIMAL + "  enforce_eager: \"true\"\n"))
    assert "engine.enforce_eager" in ds


# --------------------------------------------------------------------------------------------
# Unknown keys


@pytest.mark.parametrize("text, key, guess, line, column", [
    (MINIMAL.replace("model:", "modle:"), "modle", "model", 3, 1),
    (MINIMAL + "  tensor_paralel_size: 2\n", "engine.tensor_paralel_size", "tensor_parallel_size", 9, 3),
    (MINIMAL + "workload:\n  max_model_length: 4096\n", "workload.max_model_length", "max_model_len", 10, 3),
    (MINIMAL + "server:\n  api_key_name: KEY\n", "server.api_key_name", "api_key_env", 10, 3),
    (MINIMAL.replace("  id: meta", "  revison: main\n  id: meta"), "model.revison", "revision", 4, 3),
])
def test_unknown_key_with_did_you_mean(text, key, guess, line, column):
    d = by_key(errors_of(text))[key][0]
    assert "unknown key" in d.message
    assert f"did you mean '{guess}'" in d.fix
    assert (d.file, d.line, d.column) == (SPEC_PATH, line, column)


def test_unknown_key_without_close_match_lists_the_allowed_keys():
    d = by_key(errors_of(MINIMAL + "server:\n  zzzz: 1\n"))["server.zzzz"][0]
    assert "did you mean" not in d.fix
    for allowed in ("port", "api_key_env", "hf_token_env"):
        assert allowed in d.fix


def test_unknown_key_inside_a_deployment_list_item():
    text = """\
    version: 1
    hardware:
      gpu: H100
    deployments:
      - name: a
        model:
          id: a/b
        engine:
          version: "0.33.0"
          max_num_seq: 4
    """
    d = by_key(errors_of(text))["deployments[0].engine.max_num_seq"][0]
    assert "did you mean 'max_num_seqs'" in d.fix
    assert (d.line, d.column) == (10, 7)


# --------------------------------------------------------------------------------------------
# Missing keys


def test_missing_hardware_reported_at_top_level():
    ds = errors_of(MINIMAL.replace("hardware:\n  gpu: H100-80GB\n", ""))
    assert any("missing required key 'hardware'" in d.message for d in ds)


def test_missing_nested_key_points_at_its_parent():
    text = MINIMAL.replace("  gpu: H100-80GB\n", "  count: 2\n")
    d = next(d for d in errors_of(text) if "'gpu'" in d.message)
    assert d.key == "hardware" and (d.line, d.column) == (5, 1)
    assert "gpu:" in d.fix


@pytest.mark.parametrize("missing", ["name", "model"])
def test_missing_deployment_keys_reported(missing):
    lines = MINIMAL.splitlines(keepends=True)
    # engine: may be omitted (issue 10 item 8: the newest bundled release); name and model may not.
    drop = {"name": ["name: llama-chat\n"], "model": ["model:\n", "  id: meta-llama/Llama-3.1-8B-Instruct\n"]}[missing]
    text = "".join(line for line in lines if line not in drop)
    ds = errors_of(text)
    assert any(f"'{missing}'" in d.message and "missing" in d.message for d in ds), [d.format() for d in ds]


def test_model_needs_id_or_path():
    text = MINIMAL.replace("  id: meta-llama/Llama-3.1-8B-Instruct\n", "  revision: main\n")
    d = by_key(errors_of(text))["model"][0]
    assert "id" in d.message and "path" in d.message


# --------------------------------------------------------------------------------------------
# Every violation at once


def test_several_schema_errors_all_reported_in_file_order():
    text = """\
    version: 1
    name: Bad_Name
    modle:
      id: a/b
    hardware:
      gpu: H100
      count: two
    engine:
      version: 0.33
      tensor_paralel_size: 2
    server:
      port: 0
    """
    ds = errors_of(text)
    keys = [d.key for d in ds]
    for key in ("name", "modle", "hardware.count", "engine.version", "engine.tensor_paralel_size", "server.port"):
        assert key in keys, keys
    lines = [d.line for d in ds]
    assert lines == sorted(lines)


def test_semantic_and_schema_errors_reported_together():
    # A wrong type (schema) plus an output folder outside the tree and an inline secret
    # (semantic): one run must show all three.
    text = MINIMAL + (
        "  max_num_seqs: many\n"
        "server:\n  api_key_env: sk-abcdefghijklmnopqrstuvwx\n"
        "output:\n  dir: ../../elsewhere\n")
    keys = {d.key for d in errors_of(text)}
    assert "engine.max_num_seqs" in keys
    assert "server.api_key_env" in keys
    # Semantic checks must not be skipped because a schema error came first.
    assert "output.dir" in keys, sorted(k or "" for k in keys)


def test_missing_deployment_keys_reported_alongside_a_type_error():
    # No name and no model, plus a wrong type: the user should learn about all three at once.
    text = "version: 1\nhardware:\n  gpu: H100\n  count: x\nengine:\n  version: \"0.33.0\"\n"
    messages = [d.format() for d in errors_of(text)]
    assert any("hardware.count" in m for m in messages)
    assert any("'name'" in m for m in messages), messages
    assert any("'model'" in m for m in messages), messages


# --------------------------------------------------------------------------------------------
# Inline secrets: refused and never echoed

HF_TOKEN = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567"
OPENAI_KEY = "sk-proj-Q1w2E3r4T5y6U7i8O9p0AsDf"
GITHUB_TOKEN = "ghp_" + "Zx9" * 12


@pytest.mark.parametrize("key, secret", [
    ("api_key_env", OPENAI_KEY),
    ("hf_token_env", HF_TOKEN),
    ("api_key_env", GITHUB_TOKEN),
    ("api_key_env", "3b9f1c2e-8d4a-4e6b-9f0a-1c2d3e4f5a6b"),
    ("hf_token_env", "hf_short"),                       # not token-shaped, still not an env var name
    # vLLM's own documentation uses `--api-key token-abc123` as its example key.
    ("api_key_env", "token-abc123"),
])
def test_secret_in_env_name_refused_and_not_echoed(key, secret):
    ds = errors_of(MINIMAL + f"server:\n  {key}: {secret}\n")
    hit = by_key(ds)[f"server.{key}"]
    assert hit and hit[0].fix
    # Values that match no token shape ('token-abc123', 'hf_short') must not be echoed by the
    # generic pattern error either: the key itself would land in the terminal or CI log.
    assert secret not in everything_printed(ds)


@pytest.mark.parametrize("args", [
    ["--api-key", OPENAI_KEY],
    ["--api-key", "letmein-please"],
    ["--api-key=supersecret"],
    ["--api_key=supersecret"],
    ["--hf-token", HF_TOKEN],
    ["--hf-token=" + HF_TOKEN],
    ["--seed", "1", HF_TOKEN],   # a token pasted anywhere in the list
])
def test_secret_in_extra_args_refused_and_not_echoed(args):
    listed = "".join(f"    - \"{a}\"\n" for a in args)
    ds = errors_of(MINIMAL + "  extra_args:\n" + listed)
    assert any(d.key and d.key.startswith("engine.extra_args[") for d in ds)
    printed = everything_printed(ds)
    for a in args:
        secret = a.split("=", 1)[1] if "=" in a else a
        if not secret.startswith("--") and secret not in ("1",):
            assert secret not in printed


def test_api_key_flag_with_its_value_in_one_item_refused():
    # `extra_args: ["--api-key x"]` - one list item holding flag and value separated by a space.
    ds = errors_of(MINIMAL + "  extra_args:\n    - \"--api-key mysecretvalue\"\n")
    assert any(d.key == "engine.extra_args[0]" for d in ds)
    assert "mysecretvalue" not in everything_printed(ds)


def test_secret_not_echoed_even_with_other_errors_in_the_file():
    text = MINIMAL.replace("  gpu: H100-80GB\n", "  gpu: H100-80GB\n  count: lots\n") + \
        f"server:\n  hf_token_env: {HF_TOKEN}\n  prot: 1\n"
    ds = errors_of(text)
    keys = {d.key for d in ds}
    assert {"hardware.count", "server.hf_token_env", "server.prot"} <= keys
    assert HF_TOKEN not in everything_printed(ds)


def test_secret_inside_a_deployment_item_refused():
    text = f"""\
    version: 1
    hardware:
      gpu: H100
    deployments:
      - name: a
        model:
          id: a/b
        engine:
          version: "0.33.0"
        server:
          api_key_env: {OPENAI_KEY}
    """
    ds = errors_of(text)
    assert "deployments[0].server.api_key_env" in by_key(ds)
    assert OPENAI_KEY not in everything_printed(ds)


@pytest.mark.parametrize("name", ["VLLM_API_KEY", "HF_TOKEN", "MY_KEY_2", "_PRIVATE"])
def test_env_var_names_are_accepted(name):
    spec = parse_text(MINIMAL + f"server:\n  api_key_env: {name}\n  hf_token_env: {name}_HUB\n")
    server = spec.deployments[0].spec.server
    assert server.api_key_env == name and server.hf_token_env == f"{name}_HUB"


def test_ordinary_extra_args_accepted():
    spec = parse_text(MINIMAL + "  extra_args: [\"--seed\", \"7\", \"--enable-prefix-caching\"]\n")
    assert spec.deployments[0].spec.engine.extra_args == ("--seed", "7", "--enable-prefix-caching")


# --------------------------------------------------------------------------------------------
# output.dir must stay inside the spec's folder tree


@pytest.mark.parametrize("value", ["../x", "..", "deploy/../../x", "/tmp/out", "~/out", "C:/out", "\\\\server\\share"])
def test_output_dir_outside_the_tree_refused(value):
    ds = by_key(errors_of(MINIMAL + f"output:\n  dir: '{value}'\n"))
    d = ds["output.dir"][0]
    assert (d.line, d.column) == (10, 3)
    assert d.fix


@pytest.mark.parametrize("value", ["deploy/llama-chat", "deploy/../other", ".", "out"])
def test_output_dir_inside_the_tree_accepted(value):
    spec = parse_text(MINIMAL + f"output:\n  dir: '{value}'\n")
    assert spec.output.dir == value


def test_output_dir_outside_tree_in_multi_file_refused():
    text = """\
    version: 1
    hardware:
      gpu: H100
    output:
      dir: ../shared
    deployments:
      - name: a
        model: {id: a/b}
        engine: {version: "0.33.0"}
        output:
          dir: /abs
    """
    keys = set(by_key(errors_of(text)))
    assert {"output.dir", "deployments[0].output.dir"} <= keys


# --------------------------------------------------------------------------------------------
# Several deployments

MULTI = """\
version: 1
hardware:
  gpu: H100
  count: 2
deployments:
  - name: chat
    model:
      id: meta-llama/Llama-3.1-8B-Instruct
    engine:
      version: "0.33.0"
    server:
      port: 8000
  - name: {second_name}
    model:
      id: Qwen/Qwen3-0.6B
    engine:
      version: "0.33.0"
    server:
      port: {second_port}
"""


def test_several_deployments_parse():
    spec = parse_text(MULTI.format(second_name="small", second_port=8001))
    assert spec.multi is True
    assert [d.spec.name for d in spec.deployments] == ["chat", "small"]
    assert [d.key_prefix for d in spec.deployments] == ["deployments[0].", "deployments[1]."]
    assert spec.output.dir == "deploy"  # the host-level default for multi-deployment files


def test_duplicate_deployment_name_refused_at_the_second():
    ds = by_key(errors_of(MULTI.format(second_name="chat", second_port=8001)))
    d = ds["deployments[1].name"][0]
    assert "twice" in d.message and (d.line, d.column) == (13, 5)


def test_duplicate_port_refused_at_the_second():
    ds = by_key(errors_of(MULTI.format(second_name="small", second_port=8000)))
    d = ds["deployments[1].server.port"][0]
    assert "8000" in d.message and "'chat'" in d.message
    assert (d.line, d.column) == (19, 7)
    assert "8001" in d.fix


def test_duplicate_name_and_port_reported_together():
    keys = set(by_key(errors_of(MULTI.format(second_name="chat", second_port=8000))))
    assert {"deployments[1].name", "deployments[1].server.port"} <= keys


def test_default_ports_no_longer_clash():
    # Issue 10 item 8: an unset port takes the next free one (an explicit clash stays an error:
    # tests/parse/test_ports_and_default_engine.py).
    text = """\
    version: 1
    hardware: {gpu: H100, count: 2}
    deployments:
      - name: a
        model: {id: a/b}
        engine: {version: "0.33.0"}
      - name: b
        model: {id: c/d}
        engine: {version: "0.33.0"}
    """
    spec = parse_text(text)
    assert [d.spec.server.port for d in spec.deployments] == [8000, 8001]


def test_single_deployment_keys_next_to_deployments_refused():
    text = MULTI.format(second_name="small", second_port=8001).replace(
        "hardware:", "name: top\nmodel:\n  id: a/b\nhardware:", 1)
    keys = set(by_key(errors_of(text)))
    assert {"name", "model"} <= keys


def test_empty_deployments_list_refused():
    ds = errors_of("version: 1\nhardware: {gpu: H100}\ndeployments: []\n")
    assert any(d.key == "deployments" for d in ds)
