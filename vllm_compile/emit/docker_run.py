"""`docker-run.sh`: the same container as the compose file, as one `docker run` command."""
from __future__ import annotations

from typing import Sequence

from vllm_compile.emit import host, shell
from vllm_compile.emit.header import Header
from vllm_compile.ir.lowered import LoweredDeployment

NAME = "docker-run"
FILENAME = "docker-run.sh"
KIND = "shell"
SCOPE = "deployment"   # one script per deployment, in its own output folder
RUNTIME = "docker"
DESCRIPTION = "docker-run.sh"


def rocm_options() -> list[shell.Word]:
    """The devices, groups and security options vLLM's ROCm guide gives its container: every GPU
    of the host (/dev/kfd, /dev/dri), the video group, seccomp unconfined."""
    words: list[shell.Word] = []
    for device in host.ROCM_DEVICES:
        words += ["--device", device]
    for group in host.ROCM_GROUPS:
        words += ["--group-add", group]
    for option in host.ROCM_SECURITY_OPTS:
        words += ["--security-opt", option]
    return words


def docker_options(dep: LoweredDeployment) -> list[shell.Word]:
    """docker's own options (what goes between `docker run` and the image)."""
    words: list[shell.Word] = ["--name", dep.name, "--detach", "--restart", host.RESTART, *stop_and_logs()]
    acc = dep.accelerators
    if acc.vendor == "amd":
        words += rocm_options()
    elif acc.device_ids is not None:
        # The quotes are part of the value: docker splits --gpus on commas otherwise.
        words += ["--gpus", f'"device={",".join(acc.device_ids)}"']
    else:
        words += ["--gpus", str(acc.count)]
    # The host's IPC namespace gives the workers all the shared memory they need (dep.shm_bytes).
    words.append("--ipc=host")
    words += ulimits(dep)
    words += ["-p", host.published_port(dep)]
    for volume in dep.volumes:
        side = shell.host_path(volume)
        suffix = f":{volume.container}" + (":ro" if volume.read_only else "")
        words += ["-v", shell.Expand(side.text + shell.Expand.literal(suffix)) if isinstance(side, shell.Expand)
                  else side + suffix]
    for var in host.container_env(dep):
        words += ["-e", var.name]
    check = dep.healthcheck
    words += ["--health-cmd", f"curl -fsS http://localhost:{dep.container_port}{check.path}",
              "--health-start-period", f"{check.start_period_s}s", "--health-interval", f"{check.interval_s}s",
              "--health-timeout", f"{check.timeout_s}s", "--health-retries", str(check.retries)]
    return words


def stop_and_logs() -> list[shell.Word]:
    """The grace period of `docker stop` and the log rotation, as `docker run` options."""
    words: list[shell.Word] = ["--stop-timeout", str(host.STOP_GRACE_S), "--log-driver", host.LOG_DRIVER]
    for key, value in host.log_options():
        words += ["--log-opt", f"{key}={value}"]
    return words


def ulimits(dep: LoweredDeployment) -> list[shell.Word]:
    words: list[shell.Word] = []
    for limit in dep.ulimits:
        words += ["--ulimit", f"{limit.name}={limit.soft}" if limit.soft == limit.hard
                  else f"{limit.name}={limit.soft}:{limit.hard}"]
    return words


def argv(dep: LoweredDeployment) -> list[shell.Word]:
    """Every word after `docker run`."""
    return [*docker_options(dep), dep.image, *dep.args]


def render(deployments: Sequence[LoweredDeployment], header: Header) -> bytes:
    dep = shell.single(deployments, NAME)
    setup = [shell.script_dir_line()] if shell.needs_script_dir(dep.volumes) else []
    setup += shell.env_setup(host.container_env(dep))
    setup += replace_existing(dep.name)
    setup += wait_for_healthy(dep.depends_on_healthy)
    groups: list[list[shell.Word]] = [*shell.flag_groups(docker_options(dep)), [dep.image],
                                      *shell.flag_groups(dep.args)]
    return shell.script(header, setup, shell.command_lines(["exec", "docker", "run"], groups))


def replace_existing(name: str) -> list[str]:
    """The script can be run again: a container of the same name (an earlier run, running or not)
    is stopped with a grace period and removed, saying so. The model cache is a host folder
    mounted into the container, so it outlives the container."""
    quoted = shell.quote(name)
    grace = host.STOP_GRACE_S
    return [f"# Run again to replace the deployment: the container {name} is stopped (up to {grace} s to shut "
            "down) and removed; the model cache is a host folder and is kept.",
            f"if docker container inspect {quoted} >/dev/null 2>&1; then",
            f"  echo {shell.quote(f'replacing the existing container {name}: stopping it (up to {grace} s) and removing it; the model cache is kept')} >&2",
            f"  docker stop -t {grace} {quoted} >/dev/null",
            f"  docker rm {quoted} >/dev/null",
            "fi"]


def wait_for_healthy(names: Sequence[str]) -> list[str]:
    """Deployments sharing a GPU start one after another (as compose's depends_on does), so that
    vLLM's start-up memory check sees what the earlier ones already hold."""
    lines = []
    for name in names:
        quoted = shell.quote(name)
        lines += [f"# {name} shares a GPU with this deployment: start after it is healthy.",
                  f"until [ \"$(docker inspect --format '{{{{.State.Health.Status}}}}' {quoted} 2>/dev/null)\" = healthy ]; do",
                  f"  echo 'waiting for {name} to be healthy...' >&2",
                  "  sleep 10",
                  "done"]
    return lines
