"""Every target's output through the real validators, for several deployments."""
from __future__ import annotations

import os

import lower_builders as b
import validators as v
from emit_cases import CASES
from vllm_compile.emit import Header, compose, docker_run, serve, shell

HEADER = Header("9.9.9", "specs/llama.yaml", "ab" * 32)


def write(tmp_path, name, content: bytes, executable=False):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    if executable:
        path.chmod(0o755)
    return path


def as_text(word):
    return word.text if isinstance(word, shell.Expand) else word


def test_compose_passes_real_loader_and_schema(case, tmp_path):
    name, dep = case
    path = write(tmp_path, "compose.yaml", compose.render((dep,), HEADER))
    config = v.check_compose(path, {"MY_HF": "hf", "LLAMA_KEY": "k"})
    svc = config["services"][dep.name]
    # `config --format json` re-escapes `$` as `$$`; undo it to compare with the intended argv.
    assert [a.replace("$$", "$") for a in svc["command"]] == list(dep.args)
    assert svc["image"] == dep.image and svc["ipc"] == "host" and svc["restart"] == "unless-stopped"
    [device] = svc["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    if dep.accelerators.device_ids is None:
        assert device["count"] == dep.accelerators.count and "device_ids" not in device
    else:
        assert device["device_ids"] == list(dep.accelerators.device_ids) and "count" not in device
    [port] = svc["ports"]
    assert (port["published"], port["target"]) == (str(dep.port), 8000)
    assert svc["healthcheck"]["test"][-1] == "http://localhost:8000/health"


def test_compose_layout_by_hand(tmp_path):
    text = compose.render((CASES["basic"],), HEADER).decode()
    assert not text.startswith("version") and "\nversion:" not in text
    assert text.startswith("# Made by vllm-compile 9.9.9 from specs/llama.yaml. Do not edit")
    assert "# input-digest: sha256:" + "ab" * 32 in text
    for line in ("    command:\n      - --model\n      - meta-llama/Llama-3.1-8B-Instruct\n",
                 "      HF_TOKEN: ${HF_TOKEN:?set HF_TOKEN to a Hugging Face token with access to "
                 "meta-llama/Llama-3.1-8B-Instruct}\n",
                 # no API key: published on the loopback address only
                 '      - "127.0.0.1:8000:8000"\n',
                 "    ulimits:\n      memlock: -1\n      stack: 67108864\n",
                 "    stop_grace_period: 30s\n",
                 '    logging:\n      driver: json-file\n      options:\n        max-size: "100m"\n        max-file: "5"\n',
                 "      - ${HF_HOME:-~/.cache/huggingface}:/root/.cache/huggingface\n",
                 "    ipc: host\n", "      start_period: 480s\n", "    restart: unless-stopped\n",
                 "              count: 1\n"):
        assert line in text


def test_compose_gated_token_required_by_real_loader(tmp_path):
    path = write(tmp_path, "compose.yaml", compose.render((CASES["basic"],), HEADER))
    assert "set HF_TOKEN to a Hugging Face token" in v.compose_rejects(path, {})


def test_compose_dollar_in_user_value_stays_literal(tmp_path):
    path = write(tmp_path, "compose.yaml", compose.render((CASES["local-dollar"],), HEADER))
    text = path.read_text()
    assert '$$END' in text and "$$cheap" in text
    # Without escaping, compose would interpolate $END/$cheap from the environment; with it the
    # loader keeps them even when such variables are set.
    config = v.compose_config(path, {"END": "INTERPOLATED", "cheap": "INTERPOLATED"})
    assert "INTERPOLATED" not in str(config)
    [_, model] = config["services"]["llama-chat"]["volumes"]
    # compose resolves a relative bind mount against the compose file's folder
    assert model["source"] == os.path.normpath(tmp_path / "../../models/my llama")
    assert model["read_only"] is True and model["target"] == "/models/my-llama"


def test_compose_several_services_with_depends_on(tmp_path):
    first = b.lowered()
    second = b.lowered(dep=b.deployment(name="embedder", server={"port": 8001}), device_ids=("1",),
                       depends_on_healthy=("llama-chat",))
    path = write(tmp_path, "compose.yaml", compose.render((first, second), HEADER))
    config = v.check_compose(path)
    assert sorted(config["services"]) == ["embedder", "llama-chat"]
    assert config["services"]["embedder"]["depends_on"]["llama-chat"]["condition"] == "service_healthy"


def test_compose_loader_is_a_real_check(tmp_path):
    # The validator must be able to fail: count together with device_ids is refused.
    bad = compose.render((CASES["basic"],), HEADER).decode().replace(
        "              count: 1\n", "              count: 1\n              device_ids: ['0']\n")
    path = write(tmp_path, "compose.yaml", bad.encode())
    v.compose_rejects(path, {"HF_TOKEN": "x"})


def test_docker_run_script(case, tmp_path):
    name, dep = case
    path = write(tmp_path / "deploy", "docker-run.sh", docker_run.render((dep,), HEADER), executable=True)
    v.check_script(path)
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env bash\n# Made by vllm-compile 9.9.9")
    assert "set -euo pipefail" in text
    # shlex round trip of the command as written
    words = v.command_words(text, "exec docker run")
    assert words[3:] == [as_text(w) for w in docker_run.argv(dep)]
    # one flag (with its values) per line: every continued line starts with a flag, or is the image
    command = text[text.index("exec docker run"):].splitlines()[1:]
    assert all(line.startswith("  -") or line.strip(" \\") == dep.image for line in command)
    # no line continuation is followed by a trailing space
    assert " \\ \n" not in text and "\\ \n" not in text


def test_docker_run_executes_with_expected_argv(tmp_path):
    dep = CASES["pinned-tp2"]
    path = write(tmp_path / "deploy", "docker-run.sh", docker_run.render((dep,), HEADER), executable=True)
    result, calls = v.run_with_fakes(path, tmp_path, {"HOME": "/home/u", "MY_HF": "hf_x", "LLAMA_KEY": "key1"})
    assert result.returncode == 0, result.stderr
    # No container of that name yet: nothing is stopped, nothing said.
    inspect, call = calls
    assert inspect["argv"] == ["container", "inspect", "llama-chat"] and "replacing" not in result.stderr
    assert call["prog"] == "docker"
    assert call["argv"] == [
        "run", "--name", "llama-chat", "--detach", "--restart", "unless-stopped", "--stop-timeout", "30",
        "--log-driver", "json-file", "--log-opt", "max-size=100m", "--log-opt", "max-file=5",
        "--gpus", '"device=0,1"', "--ipc=host", "--ulimit", "memlock=-1", "--ulimit", "stack=67108864",
        # an API key is configured: published on every interface
        "-p", "9001:8000",
        "-v", "/home/u/.cache/huggingface:/root/.cache/huggingface",
        "-e", "HF_TOKEN", "-e", "VLLM_API_KEY",
        "--health-cmd", "curl -fsS http://localhost:8000/health", "--health-start-period", "480s",
        "--health-interval", "30s", "--health-timeout", "10s", "--health-retries", "5",
        "vllm/vllm-openai:v0.18.1",
        "--model", "meta-llama/Llama-3.1-8B-Instruct", "--tensor-parallel-size", "2", "--max-model-len", "32768",
        "--gpu-memory-utilization", "0.9", "--max-num-seqs", "8", "--max-num-batched-tokens", "8192"]
    # docker reads -e NAME from its own environment: the script put the referenced values there
    assert call["env"] == {"HF_TOKEN": "hf_x", "VLLM_API_KEY": "key1"}
    assert "hf_x" not in path.read_text() and "key1" not in path.read_text()


def test_docker_run_hf_home_and_relative_model_mount(tmp_path):
    dep = CASES["local-dollar"]
    path = write(tmp_path / "deploy" / "llama-chat", "docker-run.sh", docker_run.render((dep,), HEADER))
    result, [_, call] = v.run_with_fakes(path, tmp_path, {"HOME": "/home/u", "HF_HOME": "/data/hf",
                                                          "END": "X", "cheap": "X"})
    assert result.returncode == 0, result.stderr
    mounts = [call["argv"][i + 1] for i, w in enumerate(call["argv"]) if w == "-v"]
    assert mounts == ["/data/hf:/root/.cache/huggingface",
                      f"{tmp_path / 'deploy' / 'llama-chat'}/../../models/my llama:/models/my-llama:ro"]
    assert call["argv"][-1] == '{"stop": ["$END", "`x`"]}'
    assert "it's $cheap" in call["argv"]


def test_required_token_missing_stops_the_script(tmp_path):
    path = write(tmp_path, "docker-run.sh", docker_run.render((CASES["basic"],), HEADER))
    result, calls = v.run_with_fakes(path, tmp_path, {"HOME": "/home/u"})
    assert result.returncode != 0 and calls == []
    assert "set HF_TOKEN to a Hugging Face token" in result.stderr


def test_serve_script(case, tmp_path):
    name, dep = case
    path = write(tmp_path / "deploy", "serve.sh", serve.render((dep,), HEADER), executable=True)
    v.check_script(path)
    text = path.read_text()
    words = v.command_words(text, "exec vllm serve")
    assert words[3:] == [as_text(w) for w in serve.argv(dep)]
    local = dep.model.startswith("/models/")
    assert words[3] == ("$script_dir/../../models/my llama" if local else dep.model)
    assert "--model" not in words


def test_serve_executes_with_pinned_gpus_and_env(tmp_path):
    dep = CASES["pinned-tp2"]
    path = write(tmp_path, "serve.sh", serve.render((dep,), HEADER))
    result, [call] = v.run_with_fakes(path, tmp_path, {"MY_HF": "hf_x", "LLAMA_KEY": "key1"})
    assert result.returncode == 0, result.stderr
    assert call["prog"] == "vllm"
    assert call["argv"] == ["serve", "meta-llama/Llama-3.1-8B-Instruct", "--tensor-parallel-size", "2",
                            "--max-model-len", "32768", "--gpu-memory-utilization", "0.9", "--max-num-seqs", "8",
                            "--max-num-batched-tokens", "8192", "--port", "9001"]
    assert call["env"] == {"HF_TOKEN": "hf_x", "VLLM_API_KEY": "key1", "CUDA_VISIBLE_DEVICES": "0,1"}


def test_serve_local_model_uses_the_host_path(tmp_path):
    path = write(tmp_path / "deploy" / "llama-chat", "serve.sh", serve.render((CASES["local-dollar"],), HEADER))
    result, [call] = v.run_with_fakes(path, tmp_path, {})
    assert result.returncode == 0, result.stderr
    assert call["argv"][1] == f"{tmp_path / 'deploy' / 'llama-chat'}/../../models/my llama"
    assert "CUDA_VISIBLE_DEVICES" not in call["env"]


def test_serve_flags_valid_for_release():
    from vllm_compile.engine_args import parse_serve_args
    from vllm_compile.flags import load_manifest

    for dep in CASES.values():
        words = [as_text(w) for w in serve.argv(dep)]
        version = dep.image.rsplit(":v", 1)[1]
        model, _, problems = parse_serve_args(["vllm", "serve", *words], load_manifest(version))
        assert problems == () and model == words[0]


def test_shellcheck_is_a_real_check(tmp_path):
    broken = docker_run.render((CASES["basic"],), HEADER).decode().replace(" \\\n", " \\ \n", 1)
    path = write(tmp_path, "docker-run.sh", broken.encode())
    try:
        v.check_script(path)
    except AssertionError:
        return
    raise AssertionError("a trailing space after a continuation backslash went unnoticed")


def test_missing_validator_fails_instead_of_skipping():
    import pytest

    with pytest.raises(pytest.fail.Exception):
        v._tool("no-such-validator-anywhere")


def test_docker_run_waits_for_the_deployment_it_shares_a_gpu_with(tmp_path):
    """Run the emitted script for real with a fake `docker` that reports the neighbour healthy on
    the second poll: the container starts only after that."""
    import dataclasses
    import os
    import stat
    import subprocess

    from emit_cases import CASES
    from vllm_compile.emit import docker_run
    from vllm_compile.emit.header import Header

    dep = dataclasses.replace(CASES["basic"], depends_on_healthy=("first-model",))
    script = tmp_path / "docker-run.sh"
    script.write_bytes(docker_run.render((dep,), Header("1.0", "spec.yaml", "0" * 64)))
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir()
    fake.write_text("#!/usr/bin/env bash\n"
                    "echo \"$*\" >> \"$LOG\"\n"
                    "if [ \"$1\" = container ]; then exit 1; fi\n"
                    "if [ \"$1\" = inspect ]; then\n"
                    "  n=$(grep -c '^inspect' \"$LOG\"); [ \"$n\" -ge 2 ] && echo healthy || echo starting\n"
                    "fi\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}", "LOG": str(tmp_path / "log"),
           "HF_TOKEN": "x", "VLLM_API_KEY": "x"}
    # sleep is a shell builtin-free external: shadow it so the test does not wait 10 s.
    (fake.parent / "sleep").write_text("#!/usr/bin/env bash\nexit 0\n")
    (fake.parent / "sleep").chmod(0o755)
    result = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "log").read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["container", "inspect", "inspect", "run"]
    assert "first-model" in calls[1]
