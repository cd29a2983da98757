"""What the targets that run on one Docker host or bare metal share: where the model cache lives
on the host, and how the GPUs of each vendor reach a container."""
from __future__ import annotations

from vllm_compile.ir.lowered import EnvVar, LoweredDeployment, Volume

# The Hugging Face cache on the host: $HF_HOME when set, else the library's default.
HF_HOME_VAR = "HF_HOME"
HF_CACHE_DEFAULT = "~/.cache/huggingface"
RESTART = "unless-stopped"
# Log rotation of the container's output (Docker's default json-file driver keeps everything):
# at most LOG_MAX_FILES files of LOG_MAX_SIZE each, about 500 MB per deployment.
LOG_DRIVER = "json-file"
LOG_MAX_SIZE = "100m"
LOG_MAX_FILES = 5
# Re-running docker-run.sh replaces a container of the same name: `docker stop` gives vLLM this
# long to finish in-flight requests and free its GPUs before it is killed (Docker's default: 10 s).
STOP_GRACE_S = 30
# ROCm GPUs reach a container as vLLM's ROCm guide runs its image: the KFD compute interface
# and the DRI render nodes, the `video` group that owns them, and seccomp unconfined (the guide
# also adds SYS_PTRACE, which only debuggers need; it is left out).
ROCM_DEVICES = ("/dev/kfd", "/dev/dri")
ROCM_GROUPS = ("video",)
ROCM_SECURITY_OPTS = ("seccomp=unconfined",)


def host_source(volume: Volume) -> tuple[str | None, str]:
    """(the variable overriding the host folder, the folder when it is unset) of a mount."""
    if volume.kind == "model-cache":
        return HF_HOME_VAR, HF_CACHE_DEFAULT
    if volume.source is None:
        raise ValueError(f"volume {volume.container} of kind {volume.kind} has no host folder")
    return None, volume.source


def log_options() -> tuple[tuple[str, str], ...]:
    return (("max-size", LOG_MAX_SIZE), ("max-file", str(LOG_MAX_FILES)))


def published_port(dep: LoweredDeployment) -> str:
    """`[HOST:]PORT:CONTAINER_PORT` as `docker run -p` and compose's short syntax take it
    (an IPv6 address in brackets); no host address publishes on every interface."""
    ports = f"{dep.port}:{dep.container_port}"
    if dep.bind_host is None:
        return ports
    return f"[{dep.bind_host}]:{ports}" if ":" in dep.bind_host else f"{dep.bind_host}:{ports}"


def visible_devices_var(dep: LoweredDeployment) -> str:
    return "HIP_VISIBLE_DEVICES" if dep.accelerators.vendor == "amd" else "CUDA_VISIBLE_DEVICES"


def container_env(dep: LoweredDeployment) -> tuple[EnvVar, ...]:
    """The server's env inside a container: ROCm containers see every GPU of /dev/dri, so pinned
    GPUs are chosen by HIP_VISIBLE_DEVICES (NVIDIA's runtime pins them by device request)."""
    acc = dep.accelerators
    if acc.vendor != "amd" or acc.device_ids is None:
        return dep.env
    pinned = EnvVar(visible_devices_var(dep), value=",".join(acc.device_ids))
    return tuple(sorted((*dep.env, pinned), key=lambda e: e.name))
