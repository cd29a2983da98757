"""The one secret detector and the one bounded reader (issue 11)."""
from __future__ import annotations

import json
import os
import random
import string
from pathlib import Path

import pytest

from vllm_compile.inputs import InputError, read_bytes, read_json
from vllm_compile.secret_scan import find_secret, redact

DATA = Path(__file__).resolve().parents[1] / "vllm_compile" / "data"


@pytest.mark.parametrize("token, kind", [
    ("hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz012345", "Hugging Face"),
    ("ghp_" + "Q1w2E3r4T5y6U7i8O9p0AsDfGhJkLzXcVbNm", "GitHub"),
    ("github_pat_" + "11AAQWERTY0123456789_abcdefghijkl", "GitHub"),
    ("sk-" + "proj-AbCdEfGh1234IjKlMnOp5678", "API key"),
    ("AKIA" + "IOSFODNN7EXAMPLE", "AWS"),
    ("eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0In0." + "c2lnbmF0dXJlX2hlcmU", "JSON Web Token"),
    ("x7Kq9ZpL2mWvB4nR8tYc3Hd6Jf0Gs5Ua", "random-looking"),
])
def test_each_shape_is_found_inside_a_longer_string_and_redacted(token, kind):
    text = f'--override-generation-config={{"x": "a {token}"}}'
    assert kind in (find_secret(text) or "")
    shown = redact(text)
    assert token not in shown and "(redacted)" in shown and shown.startswith("--override-generation-config=")


def test_random_tokens_are_found():
    rng = random.Random(11)
    alphabet = string.ascii_letters + string.digits
    missed = sum(find_secret("".join(rng.choice(alphabet) for _ in range(32))) is None for _ in range(500))
    assert missed <= 5


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def test_no_false_positive_on_model_ids_flags_gpus_digests_uuids():
    ids = [f"{org.name}/{repo.name}" for org in (DATA / "model-configs").iterdir() if org.is_dir()
           for repo in org.iterdir()]
    words = ids + list(_strings(json.loads((DATA / "model-configs" / "catalog.json").read_text())))
    words += list(_strings(json.loads((DATA / "gpus.json").read_text())))
    flags = [text for line in (DATA / "vllm-flags" / "history.jsonl").read_text().splitlines()
             for text in _strings(json.loads(line))]
    assert len(flags) > 1000
    words += flags
    words += ["0e9e39f249a16976918f6564b8830bc894c89659", "sha256:" + "ab" * 32,
              "GPU-0f6c2a1e-9d3b-4c1e-8f2a-1b2c3d4e5f60", "RedHatAI/Llama-4-Scout-17B-16E-Instruct-FP8-dynamic",
              "vllm/vllm-openai:v0.33.0@sha256:" + "0123456789abcdef" * 4, "VLLM_API_KEY", "HF_TOKEN"]
    flagged = [w for w in words if find_secret(w)]
    assert flagged == []


def test_reader_refuses_what_is_not_a_regular_file(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "zero").symlink_to("/dev/zero")
    for name, reason in (("fifo", "FIFO"), ("zero", "device"), (".", "folder"), ("missing", "not found")):
        with pytest.raises(InputError, match=reason):
            read_bytes(tmp_path / name)


def test_reader_bounds_the_read(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 101)
    assert read_bytes(path, 101) == b"x" * 101
    with pytest.raises(InputError, match="larger than 100 bytes"):
        read_bytes(path, 100)


def test_json_depth_is_capped_before_parsing(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"a": "[[[[[[[[", "b": ' + "[" * 5 + "]" * 5 + "}")
    assert read_json(path, max_depth=6)["a"] == "[[[[[[[["
    with pytest.raises(InputError, match="nests deeper than 5"):
        read_json(path, max_depth=5)
    path.write_text("[" * 200000 + "]" * 200000)
    with pytest.raises(InputError, match="nests deeper"):
        read_json(path)
