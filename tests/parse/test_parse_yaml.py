"""YAML-level refusals of the parse stage: syntax errors with positions, alias bombs, duplicate
keys, oversized files, non-mapping and multi-document files."""
from __future__ import annotations

import pytest

from parse_support import MINIMAL, SPEC_PATH, errors_of, parse_text
from vllm_compile.parse.yaml_source import MAX_BYTES


def only(diagnostics):
    assert len(diagnostics) == 1, [d.format() for d in diagnostics]
    return diagnostics[0]


def test_minimal_spec_parses():
    spec = parse_text(MINIMAL)
    assert spec.path == SPEC_PATH
    assert [d.spec.name for d in spec.deployments] == ["llama-chat"]
    assert spec.deployments[0].key_prefix == ""
    assert spec.multi is False
    assert spec.hardware.gpu == "H100-80GB" and spec.hardware.count == 1


@pytest.mark.parametrize("text, line, column, words", [
    # "model: x: y" - the second ':' (line 3, 0-based index 8) starts an illegal nested mapping.
    ("version: 1\nname: a\nmodel: x: y\n", 3, 9, "mapping values are not allowed"),
    # A tab cannot indent YAML; it stands at line 3, column 1.
    ("version: 1\nname: a\n\tmodel: x\n", 3, 1, "'\\t'"),
    # An unclosed flow sequence: the next line's ':' (line 3, after 'hardware') is where it breaks.
    ("version: 1\nname: [a, b\nhardware: {}\n", 3, 9, "flow sequence"),
])
def test_malformed_yaml_names_file_line_column(text, line, column, words):
    d = only(errors_of(text))
    assert (d.file, d.line, d.column) == (SPEC_PATH, line, column)
    assert "malformed YAML" in d.message and words in d.message
    assert d.format().startswith(f"{SPEC_PATH}:{line}:{column}: error[VC106]:")
    assert d.fix


def test_unclosed_quote_is_reported_not_raised():
    d = only(errors_of("version: 1\nname: 'abc\n"))
    assert d.file == SPEC_PATH and d.line is not None and d.column is not None
    assert "quoted scalar" in d.message


def test_anchor_and_alias_refused_with_positions():
    ds = errors_of("version: 1\nname: &x a\nmodel: *x\n")
    where = {(d.line, d.column, d.found) for d in ds}
    # '&x' begins at line 2, column 7; '*x' at line 3, column 8.
    assert (2, 7, "&x") in where
    assert (3, 8, "*x") in where
    assert all("not allowed" in d.message for d in ds)


def test_merge_key_refused():
    text = "version: 1\nbase: &b {id: a/b}\nmodel:\n  <<: *b\n"
    ds = errors_of(text)
    merge = [d for d in ds if "'<<'" in d.message]
    assert merge and (merge[0].line, merge[0].column) == (4, 3)


def test_merge_key_without_alias_is_refused_too():
    # An inline merge (no anchor involved) still smuggles keys in that the reader does not see.
    ds = errors_of(MINIMAL + "workload:\n  <<: {max_model_len: 4096}\n")
    assert any("'<<'" in d.message for d in ds)


def test_quoted_double_angle_key_is_just_an_unknown_key():
    # A quoted "<<" is an ordinary string key, not a merge: it fails as an unknown key instead.
    ds = errors_of(MINIMAL + 'workload:\n  "<<": 1\n')
    assert not any("merge" in d.message for d in ds)
    assert any(d.key == "workload.<<" and "unknown key" in d.message for d in ds)


def test_billion_laughs_is_refused_before_expansion():
    lines = ["version: 1", "a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]")
    ds = errors_of("\n".join(lines) + "\n")
    assert all("not allowed" in d.message for d in ds)


def test_duplicate_top_level_key_names_the_key_and_the_second_occurrence():
    d = only(errors_of("version: 1\nname: a\nname: b\n"))
    assert (d.line, d.column) == (3, 1)
    assert "duplicate key" in d.message
    # Not the stream name ruamel quotes first ("<unicode string>"): the key itself.
    assert "'name'" in d.message, d.message


def test_duplicate_nested_key_names_the_key():
    d = only(errors_of(MINIMAL + "workload:\n  concurrency: 2\n  concurrency: 3\n"))
    assert (d.line, d.column) == (11, 3)
    assert "'concurrency'" in d.message, d.message


def test_duplicate_key_does_not_echo_values():
    # The duplicated value might be a pasted secret; the diagnostic needs neither value.
    ds = errors_of(MINIMAL + "server:\n  api_key_env: KEY_ONE\n  api_key_env: sk-abcdefghijklmnopqrstuvwx\n")
    assert not any("sk-abcdefghijklmnopqrstuvwx" in d.format() for d in ds)


def _padded(size: int) -> bytes:
    body = MINIMAL.encode()
    filler = size - len(body) - 2  # "#" + filler + "\n"
    return body + b"#" + b"x" * filler + b"\n"


def test_file_of_exactly_one_mib_is_accepted():
    data = _padded(MAX_BYTES)
    assert len(data) == 1024 * 1024
    from vllm_compile.parse import parse_spec

    assert parse_spec(SPEC_PATH, data).deployments[0].spec.name == "llama-chat"


def test_file_over_one_mib_is_refused():
    data = _padded(1024 * 1024 + 1)
    d = only(errors_of(data))
    assert "1 MiB" in d.message and (d.line, d.column) == (1, 1)
    assert d.file == SPEC_PATH


def test_oversized_file_read_from_disk_is_refused(tmp_path):
    from vllm_compile.diagnostics import CompileError
    from vllm_compile.parse import parse_spec

    path = tmp_path / "big.vllm.yaml"
    path.write_bytes(_padded(2 * 1024 * 1024))
    with pytest.raises(CompileError) as info:
        parse_spec(str(path))
    assert "1 MiB" in info.value.diagnostics[0].message


@pytest.mark.parametrize("text", ["- 1\n- 2\n", "42\n", "just a string\n", "null\n", "[version, 1]\n"])
def test_non_mapping_document_refused(text):
    d = only(errors_of(text))
    assert "must be a mapping" in d.message
    assert (d.line, d.column) == (1, 1)


@pytest.mark.parametrize("text, found", [
    (MINIMAL + "---\n" + MINIMAL, 2),
    ("---\nversion: 1\n---\nversion: 1\n---\nversion: 1\n", 3),
    ("# only a comment\n", 0),
    ("", 0),
])
def test_document_count_other_than_one_refused(text, found):
    d = only(errors_of(text))
    assert f"found {found}" in d.message
    assert d.fix


def test_non_utf8_bytes_refused():
    d = only(errors_of(b"version: 1\nname: \xff\xfe\n"))
    assert "UTF-8" in d.message and d.file == SPEC_PATH


def test_missing_file_and_folder_are_diagnostics(tmp_path):
    from vllm_compile.diagnostics import CompileError
    from vllm_compile.parse import parse_spec

    with pytest.raises(CompileError) as info:
        parse_spec(str(tmp_path / "nope.yaml"))
    assert "not found" in info.value.diagnostics[0].message
    with pytest.raises(CompileError) as info:
        parse_spec(str(tmp_path))
    assert "folder" in info.value.diagnostics[0].message


def test_digest_is_sha256_of_the_bytes():
    import hashlib

    data = MINIMAL.encode()
    from vllm_compile.parse import parse_spec

    assert parse_spec(SPEC_PATH, data).digest == hashlib.sha256(data).hexdigest()


def test_positions_recorded_for_nested_keys_and_list_items():
    spec = parse_text(MINIMAL + "  extra_args:\n    - --seed\n    - \"7\"\n")
    pos = spec.source.positions
    assert pos["engine.version"] == (8, 3)
    assert pos["engine.extra_args"] == (9, 3)
    assert pos["engine.extra_args[1]"] == (11, 7)


# One parse for a clean spec (issue 16): the refusals are checked as the composer takes the events;
# only a refused event sends the text through the full event pass, which reports every refusal.
REFUSED_TEXTS = [
    "version: 1\nname: &a x\nmodel: {id: *a}\n",                       # anchor and alias
    "version: 1\nbase: {a: 1}\nname: {<<: {b: 2}}\n",                  # merge key
    "version: 1\nname: !!str a\nmodel: !custom {id: x}\n",             # explicit tags
    "version: 1\nname: " + "[" * 30 + "]" * 30 + "\n",                 # too deep: flow sequences
    "version: 1\n" + "".join("  " * i + f"k{i}:\n" for i in range(30)) + "  " * 30 + "x\n",  # block maps
    "version: 1\nname: &a x\nmodel: x: y\n",                           # a refusal, then a syntax error
    "name: *undefined\n",                                              # alias to no anchor
    "---\nversion: 1\n---\nname: &b x\n",                              # a refusal in a later document
]


@pytest.mark.parametrize("text", REFUSED_TEXTS)
def test_guarded_parse_reports_what_the_full_event_pass_reported(text):
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

    from vllm_compile.diagnostics import CompileError
    from vllm_compile.parse.yaml_source import _load_checked, _refuse_aliases, _yaml_diagnostic, load_yaml

    def before():  # the event pass over the whole text, then composition (main before issue 16's change)
        yaml = YAML(typ="rt")
        yaml.allow_duplicate_keys = False
        try:
            _refuse_aliases(yaml, text, "spec.yaml")
            _load_checked(yaml, text, "spec.yaml")
        except CompileError as exc:
            return [d.format() for d in exc.diagnostics]
        except MarkedYAMLError as exc:
            return [_yaml_diagnostic(exc, "spec.yaml").format()]
        return None

    with pytest.raises(CompileError) as raised:
        load_yaml(text.encode(), "spec.yaml")
    assert [d.format() for d in raised.value.diagnostics] == before()


def test_a_clean_spec_is_parsed_once(monkeypatch):
    from vllm_compile.parse import yaml_source

    def no_second_pass(*args, **kwargs):
        raise AssertionError("the full event pass ran for a clean spec")

    monkeypatch.setattr(yaml_source, "_refuse_aliases", no_second_pass)
    spec = parse_text(MINIMAL)
    assert spec.deployments[0].spec.name == "llama-chat"
