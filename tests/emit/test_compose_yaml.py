"""compose.yaml's own block writer (`block_yaml`) writes exactly what ruamel.yaml's round-trip
dumper writes (`ruamel_yaml`), or declines (None) and leaves the document to ruamel.yaml."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from vllm_compile import pipeline
from vllm_compile.emit import compose

ROOT = Path(__file__).resolve().parent.parent.parent
SPECS = sorted([*ROOT.glob("specs/*.yaml"), *ROOT.glob("tests/golden/*/spec.yaml")])

# Texts that resolve to other types (YAML 1.2 and 1.1 spellings), indicators at every position,
# edge spaces, quotes, document markers, and characters outside printable ASCII.
WORDS = ["true", "False", "TRUE", "yes", "No", "on", "off", "y", "null", "Null", "~", "", "1", "-1", "+1", "0.92",
         "1e3", "-.5", ".inf", "-.Inf", ".nan", "0x1F", "0o17", "017", "0b101", "1_000", "1:20", "2001-12-14",
         "2001-12-14 21:59:43.10 -5", "<<", "=", "!", "&a", "*a", "|", ">", "%", "@", "`", "#", "-", "--", "---",
         "...", "?", ":", "? a", ": a", "- a", "-a", "a:", "a: b", "a:b", "a #b", "a#b", "[a]", "{a}", "a,b",
         "'a'", '"a"', "it's", "a\\b", " a", "a ", "a  b", "a\tb", "a\nb", "é", "\x7f", "${A:-b}", "${A:?c d}",
         "8000:8000", "127.0.0.1:8000:8000", "--max-model-len", "meta-llama/Llama-3.1-8B-Instruct"]
ALPHABET = " :#-?'\"{}[],&*!|>%@`~=<.+_/$0123456789abeflnostuxyzNTFY\t\né"
texts = st.one_of(st.sampled_from(WORDS), st.text(ALPHABET, max_size=12),
                  st.lists(st.sampled_from(WORDS), min_size=2, max_size=3).map(" ".join))
scalars = st.one_of(texts, st.integers(-10**12, 10**12), texts.map(DoubleQuotedScalarString), st.booleans(),
                    st.none(), st.just(0.5))
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=12).filter(lambda d: isinstance(d, dict))

# Within the subset (printable ASCII, integers, non-empty collections): mostly written, not declined.
ascii_texts = st.one_of(st.sampled_from([w for w in WORDS if w.isascii() and w.isprintable()]),
                        st.text(ALPHABET[:-3], max_size=12))
subset = st.recursive(
    st.one_of(ascii_texts, st.integers(-10**12, 10**12), ascii_texts.map(DoubleQuotedScalarString)),
    lambda inner: st.one_of(st.lists(inner, min_size=1, max_size=4),
                            st.dictionaries(ascii_texts, inner, min_size=1, max_size=4)),
    max_leaves=12).filter(lambda d: isinstance(d, dict))


@settings(derandomize=True, max_examples=600, deadline=None, database=None)
@given(st.one_of(documents, subset))
def test_block_writer_equals_ruamel_or_declines(document):
    written = compose.block_yaml(document)
    assert written is None or written == compose.ruamel_yaml(document)


def test_block_writer_writes_the_usual_values_itself():
    # Numbers, flags, paths and ${VAR} templates are within the subset (no fallback for them).
    document = {"services": {"a": {"command": ["--max-model-len", "32768", "0.92", "true", "a: b", "-1"],
                                   "environment": {"HF_TOKEN": "${HF_TOKEN:?set HF_TOKEN}"},
                                   "ports": [DoubleQuotedScalarString("8000:8000")], "ulimits": {"memlock": -1}}}}
    written = compose.block_yaml(document)
    assert written is not None and written == compose.ruamel_yaml(document)
    assert "      - '32768'\n      - '0.92'\n      - 'true'\n      - 'a: b'\n      - '-1'\n" in written


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.parent.name if p.name == "spec.yaml" else p.stem)
def test_every_example_is_written_by_the_block_writer(spec):
    try:
        lowered = pipeline.run(str(spec), until=pipeline.lower).lowered
    except Exception:  # a spec meant to fail is not a compose document
        pytest.skip("does not compile")
    document = {"services": {dep.name: compose.service(dep) for dep in lowered}}
    written = compose.block_yaml(document)
    assert written is not None and written == compose.ruamel_yaml(document)
