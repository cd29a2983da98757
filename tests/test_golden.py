"""Golden tests: each tests/golden/<case>/ holds a spec and the artifacts it must compile to, and
each example under specs/ is a golden case too, its committed output folder being the expected
artifacts (so the examples are not kept twice).

`make goldens` (VLLM_COMPILE_REGEN=1) rewrites expected/ from the compiler; every expected file is
also checked here by the independent validators (the real Docker Compose v2 loader, the Compose
Specification schema, bash -n, shellcheck, and a shlex round trip of the argv), so a regenerated
golden is never trusted on the compiler's word alone.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from validators import check_compose, check_kubernetes, check_lws, check_script, command_words
from vllm_compile.cli import cli

GOLDEN = Path(__file__).resolve().parent / "golden"
REPO = GOLDEN.parent.parent
REGEN = os.environ.get("VLLM_COMPILE_REGEN") == "1"


def _cases() -> dict[str, tuple[str, Path]]:
    """case name -> (spec path relative to the repository, folder of expected artifacts)."""
    from ruamel.yaml import YAML

    cases = {p.name: (f"tests/golden/{p.name}/spec.yaml", p / "expected")
             for p in sorted(GOLDEN.iterdir()) if (p / "spec.yaml").exists()}
    for spec in sorted((REPO / "specs").glob("*.yaml")):
        document = YAML(typ="safe", pure=True).load(spec.read_text())
        out = (document.get("output") or {}).get("dir") or f"deploy/{document['name']}"
        cases[f"specs-{spec.stem}"] = (f"specs/{spec.name}", spec.parent / out)
    return cases


CASES = _cases()
CASES_BY_SPEC = {spec: folder for spec, folder in CASES.values()}


def _compile(spec: str, out: Path) -> Path:
    """Compile into `out`. A golden case compiles with `-o out`; an example spec is copied (with its
    lock, if any) into `out` and compiled into its own output.dir, exactly as `make deploy-artifacts`
    lays it out. Returns the folder holding the artifacts."""
    os.chdir(REPO)
    if spec.startswith("specs/"):
        source = REPO / spec
        for extra in (source, source.with_name(source.name + ".lock")):
            if extra.exists():
                shutil.copy(extra, out / extra.name)
        result = CliRunner().invoke(cli, ["compile", str(out / source.name)])
        produced = out / CASES_BY_SPEC[spec].relative_to(source.parent)
    else:
        result = CliRunner().invoke(cli, ["compile", spec, "-o", str(out / "artifacts")])
        produced = out / "artifacts"
    assert result.exit_code == 0, result.output
    return produced


@pytest.mark.parametrize("case", sorted(CASES))
def test_compiles_to_expected(case, tmp_path):
    spec, expected = CASES[case]
    tmp_path = _compile(spec, tmp_path)
    produced = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    if REGEN:
        shutil.rmtree(expected, ignore_errors=True)
        shutil.copytree(tmp_path, expected)
    wanted = sorted(p.relative_to(expected).as_posix() for p in expected.rglob("*") if p.is_file())
    assert produced == wanted
    for name in produced:
        assert (tmp_path / name).read_bytes() == (expected / name).read_bytes(), f"{case}/{name} differs"


@pytest.mark.parametrize("case", sorted(CASES))
def test_expected_passes_validators(case):
    expected = CASES[case][1]
    composes = list(expected.rglob("compose.yaml"))
    scripts = list(expected.rglob("*.sh"))
    manifests = list(expected.rglob("kubernetes.yaml"))
    groups = list(expected.rglob("lws.yaml"))
    assert composes or scripts or manifests or groups
    for manifest in manifests:
        _check_manifest(manifest, composes)
    for group in groups:
        _check_lws(group)
    for compose in composes:
        config = check_compose(compose, env={"HF_TOKEN": "dummy", "VLLM_API_KEY": "dummy"})
        for service in config["services"].values():
            if "deploy" in service:
                devices = service["deploy"]["resources"]["reservations"]["devices"]
                assert all(("count" in d) != ("device_ids" in d) for d in devices), "count and device_ids both set"
            else:   # ROCm: the GPUs are the KFD and DRI devices
                assert [d["source"] for d in service["devices"]] == ["/dev/kfd", "/dev/dri"]
            assert "serve" not in service["command"], "the image's entrypoint already runs the server"
            assert service["command"][0] == "--model"
    for script in scripts:
        check_script(script)
        assert os.access(script, os.X_OK), f"{script} is not executable"
    for compose in composes:
        config = check_compose(compose, env={"HF_TOKEN": "dummy", "VLLM_API_KEY": "dummy"})
        for name, service in config["services"].items():
            run = next((s for s in scripts if s.parent.name in (name, compose.parent.name)
                        and s.name == "docker-run.sh"), None)
            if run is None:
                continue
            words = command_words(run.read_text(), "exec docker run")
            image_at = words.index(service["image"])
            # The docker run argv after the image is exactly the compose command.
            assert words[image_at + 1:] == service["command"]


def _check_manifest(manifest: Path, composes: list[Path]) -> None:
    """Strict kubernetes-validate on every document; the container's argv parses for its release
    and is the compose service's command when both were emitted."""
    from vllm_compile.engine_args import parse_serve_args
    from vllm_compile.flags import load_manifest

    documents = check_kubernetes(manifest)
    [deployment] = [d for d in documents if d["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    args = [a.replace("$$", "$") for a in container["args"]]
    assert args[0] == "--model"
    version = container["image"].rsplit(":v", 1)[1]
    _, _, problems = parse_serve_args(["vllm", "serve", *args], load_manifest(version))
    assert problems == (), problems
    for compose in composes:
        config = check_compose(compose, env={"HF_TOKEN": "dummy", "VLLM_API_KEY": "dummy"})
        service = config["services"].get(deployment["metadata"]["name"])
        if service is not None:
            assert [a.replace("$$", "$") for a in service["command"]] == args


LWS_SAMPLES = {"$(LWS_LEADER_ADDRESS)": "10.0.0.1", "$(LWS_WORKER_INDEX)": "1"}


def serve_argv(container: dict) -> list[str]:
    """The `vllm serve` argv a LeaderWorkerSet container runs (directly, or at the end of a shell
    line), with the LWS variables given sample values and Kubernetes' `$$` read as `$`."""
    import shlex

    if container.get("command") == ["vllm", "serve"]:
        words = container["args"]
    else:
        [line] = container["args"]
        words = shlex.split(line.split("exec vllm serve ", 1)[1])
    return [LWS_SAMPLES.get(w, w).replace("$$", "$") for w in words]


def _check_lws(path: Path) -> None:
    """Validators on every document; each `vllm serve` argv parses for the pinned release."""
    from vllm_compile.engine_args import parse_serve_args
    from vllm_compile.flags import load_manifest

    documents = check_lws(path)
    [group] = [d for d in documents if d["kind"] == "LeaderWorkerSet"]
    template = group["spec"]["leaderWorkerTemplate"]
    [leader] = template["leaderTemplate"]["spec"]["containers"]
    version = leader["image"].rsplit(":v", 1)[1]
    for role in ("leaderTemplate", "workerTemplate"):
        [container] = template[role]["spec"]["containers"]
        if role == "workerTemplate" and container.get("command") != ["vllm", "serve"]:
            continue   # a Ray worker runs no server
        args = serve_argv(container)
        assert not args[0].startswith("-"), "the model goes first, positionally: 0.6/0.7 require it there"
        model, _, problems = parse_serve_args(["vllm", "serve", *args], load_manifest(version))
        assert problems == () and model == args[0], problems
