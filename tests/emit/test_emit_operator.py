"""Artifacts an operator runs for months: re-runnable docker-run.sh, log rotation, NCCL ulimits,
and the bind address of the published port (secure by default)."""
from __future__ import annotations

import lower_builders as b
import pytest
import validators as v
from vllm_compile.emit import Header, compose, docker_run, kubernetes, serve

HEADER = Header("9.9.9", "specs/llama.yaml", "ab" * 32)
KEYED = {"api_key_env": "LLAMA_KEY"}


def write(folder, name, content: bytes):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    path.chmod(0o755)
    return path


def test_docker_run_replaces_an_existing_container_and_keeps_the_cache(tmp_path):
    """Run the script a second time: the fake docker knows a container of that name, so the
    script stops it with the grace period, removes it (not its volumes), says so, then runs."""
    dep = b.lowered()
    path = write(tmp_path / "deploy", "docker-run.sh", docker_run.render((dep,), HEADER))
    v.check_script(path)
    cache = tmp_path / "hf"
    (cache / "hub").mkdir(parents=True)
    (cache / "hub" / "weights.safetensors").write_bytes(b"w" * 100)
    result, calls = v.run_with_fakes(path, tmp_path, {"HF_HOME": str(cache), "HF_TOKEN": "hf_x",
                                                      "FAKE_CONTAINERS": "other,llama-chat"})
    assert result.returncode == 0, result.stderr
    assert [c["argv"][:4] for c in calls[:3]] == [
        ["container", "inspect", "llama-chat"], ["stop", "-t", "30", "llama-chat"], ["rm", "llama-chat"]]
    assert calls[3]["argv"][0] == "run" and len(calls) == 4
    assert "replacing the existing container llama-chat: stopping it (up to 30 s) and removing it; " \
           "the model cache is kept" in result.stderr
    # The cache is a host folder mounted into the container: nothing removes volumes or touches it.
    assert not any("-v" in c["argv"][:3] or "--volumes" in c["argv"] or "volume" in c["argv"][:1] for c in calls[:3])
    assert (cache / "hub" / "weights.safetensors").read_bytes() == b"w" * 100
    # The new container gets the same grace period when docker stops it.
    run = calls[3]["argv"]
    assert run[run.index("--stop-timeout") + 1] == "30"


def test_docker_run_first_run_replaces_nothing(tmp_path):
    path = write(tmp_path / "deploy", "docker-run.sh", docker_run.render((b.lowered(),), HEADER))
    result, calls = v.run_with_fakes(path, tmp_path, {"HF_TOKEN": "hf_x", "FAKE_CONTAINERS": "llama-chat-2"})
    assert result.returncode == 0, result.stderr
    assert [c["argv"][0] for c in calls] == ["container", "run"]
    assert "replacing" not in result.stderr


def test_log_rotation_and_ulimits_pass_the_real_compose_loader(tmp_path):
    dep = b.lowered(dep=b.deployment(server=KEYED), the_plan=b.plan(tensor_parallel_size=2))
    path = write(tmp_path, "compose.yaml", compose.render((dep,), HEADER))
    config = v.check_compose(path, {"HF_TOKEN": "x", "LLAMA_KEY": "k"})
    service = config["services"]["llama-chat"]
    assert service["logging"] == {"driver": "json-file", "options": {"max-size": "100m", "max-file": "5"}}
    assert service["ulimits"] == {"memlock": -1, "stack": 67108864}
    assert service["stop_grace_period"] == "30s"


def test_docker_run_log_rotation_and_ulimits(tmp_path):
    dep = b.lowered(dep=b.deployment(server=KEYED))
    words = [w for w in docker_run.argv(dep) if isinstance(w, str)]
    pairs = {(words[i], words[i + 1]) for i in range(len(words) - 1)}
    assert {("--log-driver", "json-file"), ("--log-opt", "max-size=100m"), ("--log-opt", "max-file=5"),
            ("--ulimit", "memlock=-1"), ("--ulimit", "stack=67108864")} <= pairs


def test_kubernetes_has_no_ulimits_or_bind_address(tmp_path):
    """A pod spec has no ulimits field (the container runtime's defaults apply) and a ClusterIP
    Service is cluster-internal: the strict validator would refuse anything we invented."""
    dep = b.lowered()
    path = write(tmp_path, "kubernetes.yaml", kubernetes.render((dep,), HEADER))
    text = path.read_text()
    v.check_kubernetes(path)
    assert "ulimit" not in text and "127.0.0.1" not in text


@pytest.mark.parametrize("server, published, listen", [
    ({}, "127.0.0.1:8000:8000", ["--host", "127.0.0.1"]),                  # no key: this host only
    (KEYED, "8000:8000", []),                                              # key: every interface
    ({"host": "0.0.0.0"}, "0.0.0.0:8000:8000", ["--host", "0.0.0.0"]),    # written out: as asked
    ({**KEYED, "host": "10.0.0.5"}, "10.0.0.5:8000:8000", ["--host", "10.0.0.5"]),
    ({"host": "::1"}, "[::1]:8000:8000", ["--host", "::1"]),
])
def test_bind_address_in_every_host_artifact(tmp_path, server, published, listen):
    dep = b.lowered(dep=b.deployment(server=server))
    path = write(tmp_path, "compose.yaml", compose.render((dep,), HEADER))
    config = v.check_compose(path, {"HF_TOKEN": "x", "LLAMA_KEY": "k"})
    [port] = config["services"]["llama-chat"]["ports"]
    assert (port.get("host_ip"), port["published"], port["target"]) == (
        server.get("host", "127.0.0.1" if "api_key_env" not in server else None), "8000", 8000)
    assert published in docker_run.argv(dep)
    words = serve.argv(dep)
    assert words[-2:] == ["--port", "8000"] and words[-4:-2] == listen if listen else "--host" not in words
    script = write(tmp_path, "serve.sh", serve.render((dep,), HEADER))
    v.check_script(script)
