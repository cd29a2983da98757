"""AMD GPUs (ROCm): vLLM's ROCm image, /dev/kfd and /dev/dri, the video group, seccomp unconfined,
HIP_VISIBLE_DEVICES for pinned GPUs, amd.com/gpu on Kubernetes; old releases and UUID pins refused."""
from __future__ import annotations

import pytest

import lower_builders as b
import validators as v
from vllm_compile.diagnostics import CompileError
from vllm_compile.emit import docker_run, kubernetes, serve
from vllm_compile.emit import compose
from vllm_compile.emit.header import Header

HEADER = Header("9.9.9", "specs/amd.yaml", "cd" * 32)


def amd(**kw):
    dep = kw.pop("dep", None) or b.deployment(engine={"version": "0.33.0"}, server={"api_key_env": "KEY"})
    return b.lowered(dep=dep, gpu=b.MI300X, **kw)


def pinned():
    return amd(the_plan=b.plan(vllm_version="0.33.0", tensor_parallel_size=2),
               hardware_spec={"count": 2, "device_ids": ["2", "3"]})


def write(tmp_path, name, content, executable=False):
    path = tmp_path / name
    path.write_bytes(content)
    if executable:
        path.chmod(0o755)
    return path


def test_rocm_image_of_the_pinned_release():
    low = amd()
    assert low.image == "vllm/vllm-openai-rocm:v0.33.0" and low.accelerators.vendor == "amd"
    # A spec's own image is kept (e.g. one of AMD's rocm/vllm builds).
    own = b.deployment(engine={"version": "0.33.0", "image": "rocm/vllm:rocm7.0.0_vllm_0.11.2_20251210"})
    assert amd(dep=own).image == "rocm/vllm:rocm7.0.0_vllm_0.11.2_20251210"


def test_release_without_a_rocm_image_is_refused():
    with pytest.raises(CompileError) as caught:
        amd(dep=b.deployment(engine={"version": "0.11.0"}))
    [diag] = caught.value.diagnostics
    assert diag.key == "engine.version" and (diag.line, diag.column) == (13, 3)
    assert "vllm/vllm-openai-rocm starts with 0.14.0" in diag.message and "engine.image" in diag.fix


def test_uuid_pins_are_refused_on_amd():
    with pytest.raises(CompileError) as caught:
        amd(hardware_spec={"count": 1, "device_ids": ["GPU-1fff74a1"]})
    [diag] = caught.value.diagnostics
    assert diag.key == "hardware.device_ids" and "HIP_VISIBLE_DEVICES" in diag.message


def test_compose_passes_the_real_loader(tmp_path):
    dep = pinned()
    path = write(tmp_path, "compose.yaml", compose.render((dep,), HEADER))
    config = v.check_compose(path, {"KEY": "k"})
    svc = config["services"]["llama-chat"]
    assert svc["image"] == "vllm/vllm-openai-rocm:v0.33.0"
    assert [d["source"] for d in svc["devices"]] == ["/dev/kfd", "/dev/dri"]
    assert svc["group_add"] == ["video"] and svc["security_opt"] == ["seccomp=unconfined"] and svc["ipc"] == "host"
    assert "deploy" not in svc      # no NVIDIA device request
    assert svc["environment"]["HIP_VISIBLE_DEVICES"] == "2,3"
    assert svc["command"] == list(dep.args)


def test_docker_run_executes_with_rocm_devices(tmp_path):
    path = write(tmp_path, "docker-run.sh", docker_run.render((pinned(),), HEADER), executable=True)
    v.check_script(path)
    result, [inspect, call] = v.run_with_fakes(path, tmp_path, {"HOME": "/home/u", "HF_TOKEN": "hf", "KEY": "k"},
                                               watch=("HF_TOKEN", "VLLM_API_KEY", "HIP_VISIBLE_DEVICES"))
    assert result.returncode == 0, result.stderr
    assert inspect["argv"] == ["container", "inspect", "llama-chat"]
    argv = call["argv"]
    assert argv[:6] == ["run", "--name", "llama-chat", "--detach", "--restart", "unless-stopped"]
    devices = argv.index("--device")
    assert argv[devices:devices + 8] == ["--device", "/dev/kfd", "--device", "/dev/dri", "--group-add", "video",
                                         "--security-opt", "seccomp=unconfined"]
    # NVIDIA's NCCL ulimits are for NVIDIA containers; vLLM's ROCm guide runs its image without them.
    assert "--ulimit" not in argv
    assert "--gpus" not in argv and "--ipc=host" in argv
    passed = [argv[i + 1] for i, word in enumerate(argv) if word == "-e"]
    assert passed == ["HF_TOKEN", "HIP_VISIBLE_DEVICES", "VLLM_API_KEY"]
    assert call["env"] == {"HF_TOKEN": "hf", "VLLM_API_KEY": "k", "HIP_VISIBLE_DEVICES": "2,3"}
    assert "vllm/vllm-openai-rocm:v0.33.0" in argv


def test_serve_pins_with_hip_visible_devices(tmp_path):
    path = write(tmp_path, "serve.sh", serve.render((pinned(),), HEADER), executable=True)
    v.check_script(path)
    result, [call] = v.run_with_fakes(path, tmp_path, {"HF_TOKEN": "hf", "KEY": "k"},
                                      watch=("HIP_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES"))
    assert result.returncode == 0, result.stderr
    assert call["env"] == {"HIP_VISIBLE_DEVICES": "2,3"}


def test_kubernetes_asks_for_amd_gpus(tmp_path):
    path = write(tmp_path, "kubernetes.yaml", kubernetes.render((pinned(),), HEADER))
    documents = v.check_kubernetes(path)
    pod = next(d for d in documents if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["resources"] == {"limits": {"amd.com/gpu": 2}}
    assert container["image"] == "vllm/vllm-openai-rocm:v0.33.0"
    # No NVIDIA product label; the device plugin's amd.com/gpu resource finds AMD nodes.
    assert "nodeSelector" not in pod and "affinity" not in pod
    assert all(e["name"] != "HIP_VISIBLE_DEVICES" for e in container["env"])
