"""Shared strategies of the fuzz suite (issue 11): mutated example specs, hostile strings,
planted secrets, control characters, deep nesting, and tampered artifacts.

The seeds are the examples that compile (specs/*.yaml and the golden cases, with their locks);
each example mutates one of them a few times at the data level (set, delete or add a key), dumps
it as block YAML or as JSON (which is YAML too), and sometimes edits the text itself.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]

# Secrets of every shape the detector knows: none may ever appear in an output or a message.
SECRETS = (
    "hf_" + "Zq8RkT2mXv7LpW4nB9cJ5dH3fG6sA1eY0u",
    "ghp_" + "Q1w2E3r4T5y6U7i8O9p0AsDfGhJkLzXcVbNm",
    "github_pat_" + "11AAQWERTY0123456789_abcdefghijklmnopqrstuvwxyzABCD",
    "sk-" + "proj-AbCdEfGh1234IjKlMnOp5678QrStUvWx",
    "AKIA" + "Z3XAMPLEK3Y9QW2R",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0." + "dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    "x7Kq9ZpL2mWvB4nR8tYc3Hd6Jf0Gs5Ua",
)

# What an attacker or a careless user writes: shell and YAML payloads, paths, control characters.
HOSTILE = (
    "", " ", "-", "--", "$(touch /tmp/pwned)", "`id`", "; rm -rf /", "a'b", 'a"b', "${HF_TOKEN}", "$HF_TOKEN",
    "{{x}}", "\\", "a\\b", "a:b:c", "./m:/etc:rw", "../../etc/passwd", "/etc/passwd", "/abs/path", "~", "~/x",
    ".", "..", "deploy/../../x", "deploy/a\0b", "a\x1bb", "a\u0085b", "a\u2028b", "a\rb", "a\nb", "a\tb", "\ufeff",
    "*", "&a", "!!python/object:os.system", "<<", "null", "~", "true", "0x1F", "1e400", "nan", "inf", "-1",
    "é", "日本語", "🙂", "x" * 300, "a" * 64, "-" * 64, "A_B", "_", "1ABC", "lower_case", "HF_TOKEN", "PATH",
    "meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen3-8B", "H100-80GB", "L4", "A100-40GB", "auto", "fp8",
    "--max-model-len", "--max-model-len=0", "--tensor-parallel-size=1000", "--enable-lora", "--max-lora-rank=inf",
    "--api-key=x", "--hf-token", "--chat-template=x", "--override-generation-config={\"a\": 1}",
    "--gpu-memory-utilization=2", "compose", "docker-run", "serve", "kubernetes", "0.33.0", "0.6.0", "9.9.9",
    "../models/llama", "models/llama", "../outside", "deploy", "deploy/x", "specs/deploy",
    "vllm/vllm-openai:latest", "GPU-0f6c2a1e-9d3b-4c1e-8f2a-1b2c3d4e5f60", "0", "7",
)
KEYS = ("version", "name", "model", "id", "path", "revision", "hardware", "gpu", "count", "device_ids",
        "share_gpus", "memory_gib", "workload", "max_model_len", "concurrency", "engine", "image",
        "tensor_parallel_size", "pipeline_parallel_size", "gpu_memory_utilization", "kv_cache_dtype",
        "max_num_seqs", "extra_args", "server", "port", "api_key_env", "hf_token_env", "output", "dir",
        "formats", "deployments", "kubernetes", "namespace", "labels", "served_model_name", "quantization",
        "facts", "unknown_key", "x-extra")


@dataclass(frozen=True)
class Seed:
    name: str
    text: str
    lock: str | None


def seeds() -> list[Seed]:
    out = []
    for spec in sorted((REPO / "specs").glob("*.yaml")) + sorted((REPO / "tests" / "golden").glob("*/spec.yaml")):
        lock = spec.with_name(spec.name + ".lock")
        out.append(Seed(str(spec.relative_to(REPO)), spec.read_text(encoding="utf-8"),
                        lock.read_text(encoding="utf-8") if lock.exists() else None))
    return out


SEEDS = seeds()


def deep(depth: int) -> object:
    value: object = "x"
    for _ in range(depth):
        value = [value]
    return value


scalars = st.one_of(
    st.sampled_from(HOSTILE), st.sampled_from(SECRETS), st.text(max_size=24),
    st.integers(min_value=-(2 ** 70), max_value=2 ** 70), st.sampled_from([0, 1, 2, 8, 65535, 65536, 10 ** 9]),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.sampled_from(SECRETS).map(lambda s: f"--chat-template={s}"),
    st.sampled_from(SECRETS).map(lambda s: "--override-generation-config={\"x\": \"" + s + "\"}"),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.dictionaries(st.sampled_from(KEYS + HOSTILE[:20]), scalars, max_size=3),
    st.integers(min_value=20, max_value=120).map(deep),
)


def _paths(node, prefix=()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, prefix + (index,))
    return out


def _apply(document: dict, op: str, path: tuple, key, value) -> dict:
    parent: object = document
    for part in path[:-1]:
        parent = parent[part]  # type: ignore[index]
    if not path:
        if op == "add" and isinstance(document, dict):
            document[key] = value
        return document
    last = path[-1]
    if op == "set":
        parent[last] = value  # type: ignore[index]
    elif op == "delete":
        del parent[last]  # type: ignore[attr-defined]
    elif op == "add":
        target = parent[last]  # type: ignore[index]
        if isinstance(target, dict):
            target[key] = value
        elif isinstance(target, list):
            target.append(value)
        else:
            parent[last] = value  # type: ignore[index]
    return document


def dump(document, style: str) -> str:
    if style == "json":
        return json.dumps(document, ensure_ascii=False, allow_nan=True) + "\n"
    import io

    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096
    stream = io.StringIO()
    yaml.dump(document, stream)
    return stream.getvalue()


TEXT_EDITS = ("insert", "control", "truncate", "bomb", "tag", "anchor", "non-utf8", "none")


@st.composite
def mutated_specs(draw) -> tuple[Seed, bytes]:
    """(the seed, the bytes of a mutated spec)."""
    from ruamel.yaml import YAML

    seed = draw(st.sampled_from(SEEDS))
    document = YAML(typ="safe", pure=True).load(seed.text)
    for _ in range(draw(st.sampled_from((0, 1, 1, 1, 2, 2, 3, 4)))):
        paths = _paths(document)
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(("set", "set", "delete", "add")))
        if op == "delete" and not path:
            continue
        document = _apply(document, op, path, draw(st.sampled_from(KEYS)), draw(values))
    try:
        text = dump(document, draw(st.sampled_from(("yaml", "yaml", "json"))))
    except RecursionError:  # the dumper's own limit (deep values nested in deep values): plain JSON
        text = dump(document, "json")
    edit = draw(st.sampled_from(TEXT_EDITS + ("none",) * 12))
    lines = text.splitlines(keepends=True)
    at = draw(st.integers(min_value=0, max_value=max(len(lines), 1)))
    if edit == "insert":
        lines.insert(at, draw(st.sampled_from(HOSTILE + SECRETS)) + "\n")
    elif edit == "control":
        char = draw(st.sampled_from(("\0", "\x1b", "\x07", "\x7f", "\u0085", "\x9b")))
        line = lines[at - 1] if at and lines else ""
        if lines and at:
            lines[at - 1] = line[: len(line) // 2] + char + line[len(line) // 2:]
    elif edit == "truncate":
        lines = lines[:at]
    elif edit == "bomb":
        lines.append('x-a: &a ["lol", "lol", "lol"]\nx-b: &b [*a, *a, *a]\n')
    elif edit == "tag":
        lines.append("x-t: !!python/object/apply:os.system [\"touch /tmp/pwned\"]\n")
    elif edit == "anchor":
        lines.insert(at, "x-y: &y 1\n")
    data = "".join(lines).encode("utf-8", "surrogatepass")
    if edit == "non-utf8":
        data = data[: len(data) // 2] + b"\xff\xfe" + data[len(data) // 2:]
    return seed, data


# ----------------------------------------------------------------------------------------------
# Tampering with compiled artifacts (check/diff)

TAMPER = ("truncate", "append", "bomb", "tag", "deep", "garbage", "folder", "fifo", "dev-zero", "dangling",
          "outside-link", "chmod", "delete", "swap", "huge", "edit-value", "non-utf8", "empty", "nul")


def tamper(path: Path, how: str, draw_text: str, outside: Path) -> None:
    """Change the artifact at `path` the way `how` says."""
    content = path.read_bytes() if path.is_file() else b""
    if how == "truncate":
        path.write_bytes(content[: len(content) // 2])
    elif how == "append":
        path.write_bytes(content + draw_text.encode("utf-8", "surrogatepass") + b"\n")
    elif how == "bomb":
        bomb = ['x-a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
        names = "abcdefghi"
        bomb += [f"x-{n}: &{n} [" + ", ".join([f"*{p}"] * 9) + "]" for p, n in zip(names, names[1:])]
        path.write_bytes(content + ("\n".join(bomb) + "\n").encode())
    elif how == "tag":
        path.write_bytes(content + b"x-p: !!python/object/apply:os.system [id]\n")
    elif how == "deep":
        path.write_bytes(content + b"x-d: " + b"[" * 5000 + b"]" * 5000 + b"\n")
    elif how == "garbage":
        path.write_bytes(os.urandom(64) + content)
    elif how in ("folder", "fifo", "dev-zero", "dangling", "outside-link", "delete"):
        path.unlink()
        if how == "folder":
            path.mkdir()
        elif how == "fifo":
            os.mkfifo(path)
        elif how == "dev-zero":
            path.symlink_to("/dev/zero")
        elif how == "dangling":
            path.symlink_to(path.parent / "nowhere")
        elif how == "outside-link":
            outside.write_bytes(content)
            path.symlink_to(outside)
    elif how == "chmod":
        path.chmod(0o600)
    elif how == "swap":
        others = [p for p in path.parent.iterdir() if p != path and p.is_file()]
        if others:
            path.write_bytes(others[0].read_bytes())
    elif how == "huge":
        path.write_bytes(content + b"#" * (3 << 20))
    elif how == "edit-value":
        path.write_bytes(content.replace(b"8000", draw_text.encode("utf-8", "surrogatepass"), 1))
    elif how == "non-utf8":
        path.write_bytes(content + b"\xff\xfe\n")
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "nul":
        path.write_bytes(content + b"\0")
