"""`lws.yaml`: a deployment across nodes on Kubernetes, as a LeaderWorkerSet
(`leaderworkerset.x-k8s.io/v1`, kubernetes-sigs/lws) of `hardware.nodes` pods, one per node,
and a Service that reaches only the leader.

LWS creates the group's pods and gives each LWS_LEADER_ADDRESS, LWS_GROUP_SIZE and
LWS_WORKER_INDEX (0 on the leader); Kubernetes expands `$(VAR)` in a container's args, so the
start-up commands are written out here in full. With vLLM's own multi-node mode (releases with
--nnodes) every pod runs `vllm serve`, the workers `--headless`; otherwise the leader starts a Ray
head, waits until the cluster holds every GPU, then runs `vllm serve`, and the workers join it.

`startupPolicy: LeaderReady` creates the workers once the leader is ready; the leader's readiness
is its rendezvous port (Ray's GCS, or torch's master port) listening, not /health, which only
answers once the workers have joined. The group is recreated when any pod restarts (a lost rank
cannot rejoin a running vLLM). Every pod gets a model-cache PersistentVolumeClaim of its own
from `volumeClaimTemplates` (ReadWriteOnce volumes are per node), and /dev/shm in memory.
"""
from __future__ import annotations

import io
from typing import Sequence

from vllm_compile.emit import kubernetes as k8s
from vllm_compile.emit.header import Header
from vllm_compile.ir.lowered import LEADER_ADDRESS, NODE_RANK, LoweredDeployment, MultiNode, NodeLaunch

NAME = "lws"
FILENAME = "lws.yaml"
KIND = "yaml"
SCOPE = "deployment"
RUNTIME = "kubernetes"
DESCRIPTION = "lws.yaml: LeaderWorkerSet across hardware.nodes nodes, leader Service, a model cache per node"

# The pod network's interface under the common CNIs: NCCL and Gloo talk over it between pods.
POD_INTERFACE = "eth0"
# vLLM's docs for InfiniBand: NCCL_IB_HCA=mlx5, and IPC_LOCK for GPUDirect RDMA.
IB_HCA = "mlx5"
LEADER_ENV = "$(LWS_LEADER_ADDRESS)"
INDEX_ENV = "$(LWS_WORKER_INDEX)"
GROUP_ENV = "$(LWS_GROUP_SIZE)"


def _substitute(args: Sequence[str]) -> list[str]:
    """Escape literal `$` for Kubernetes, then let it expand the LWS variables."""
    return [LEADER_ENV if a == LEADER_ADDRESS else INDEX_ENV if a == NODE_RANK else k8s.escape(a) for a in args]


def _shell_word(word: str) -> str:
    import shlex

    return word if word in (LEADER_ENV, INDEX_ENV, GROUP_ENV) else shlex.quote(word)


def ray_wait(gpus: int, port: int) -> str:
    """A shell loop that returns once the Ray cluster reports `gpus` GPUs."""
    check = (f"import ray, sys; ray.init(address='auto', logging_level='ERROR'); "
             f"sys.exit(0 if ray.cluster_resources().get('GPU', 0) >= {gpus} else 1)")
    return (f"until python3 -c \"{check}\" >/dev/null 2>&1; do echo 'waiting for {gpus} GPUs in the Ray cluster "
            f"(port {port})...'; sleep 10; done")


def _commands(launch: NodeLaunch, multi: MultiNode, leader: bool) -> tuple[list[str] | None, list[str]]:
    """(command, args) of a container."""
    if launch.backend == "mp":
        args = launch.leader_args if leader else launch.worker_args
        return ["vllm", "serve"], _substitute(args)
    if leader:
        gpus = multi.nodes * multi.gpus_per_node
        serve = " ".join(_shell_word(w) for w in _substitute(launch.leader_args))
        script = (f"ray start --head --port={multi.ray_port} --node-ip-address=\"$VLLM_HOST_IP\" && "
                  f"{ray_wait(gpus, multi.ray_port)} && exec vllm serve {serve}")
    else:
        script = (f"exec ray start --block --address={LEADER_ENV}:{multi.ray_port} "
                  f"--node-ip-address=\"$VLLM_HOST_IP\"")
    return ["/bin/bash", "-c"], [script]


def _env(dep: LoweredDeployment, multi: MultiNode, leader: bool) -> list[dict]:
    options = dep.kubernetes
    assert options is not None
    env = [k8s._env(var, options) for var in dep.env if leader or var.secret != "api_key"]
    env += [{"name": "VLLM_HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "NCCL_SOCKET_IFNAME", "value": POD_INTERFACE},
            {"name": "GLOO_SOCKET_IFNAME", "value": POD_INTERFACE}]
    if multi.network == "infiniband":
        env.append({"name": "NCCL_IB_HCA", "value": IB_HCA})
    return sorted(env, key=lambda e: e["name"])


def _container(dep: LoweredDeployment, launch: NodeLaunch, multi: MultiNode, leader: bool) -> dict:
    command, args = _commands(launch, multi, leader)
    check = dep.healthcheck
    out: dict = {"name": k8s.CONTAINER, "image": dep.image}
    if command:
        out["command"] = command
    out["args"] = args
    out["env"] = _env(dep, multi, leader)
    if leader:
        out["ports"] = [{"name": k8s.PORT_NAME, "containerPort": dep.container_port, "protocol": "TCP"}]
    out["resources"] = {"limits": {k8s.GPU_RESOURCE[dep.accelerators.vendor]: dep.accelerators.count}}
    out["volumeMounts"] = [{"name": k8s.CACHE_VOLUME, "mountPath": v.container} for v in dep.volumes] + [
        {"name": k8s.SHM_VOLUME, "mountPath": "/dev/shm"}]
    if multi.network == "infiniband":
        out["securityContext"] = {"capabilities": {"add": ["IPC_LOCK"]}}
    if leader:
        # Ready once the rendezvous port listens, so that LeaderReady creates the workers; alive
        # (/health) from the start-up budget on.
        out["readinessProbe"] = {"tcpSocket": {"port": launch.rendezvous_port}, "periodSeconds": k8s.READINESS_PERIOD_S,
                                 "failureThreshold": k8s.READINESS_FAILURES}
        out["livenessProbe"] = {"httpGet": {"path": check.path, "port": k8s.PORT_NAME},
                                "initialDelaySeconds": check.start_period_s, "periodSeconds": check.interval_s,
                                "timeoutSeconds": check.timeout_s, "failureThreshold": check.retries}
    return out


def _template(dep: LoweredDeployment, launch: NodeLaunch, multi: MultiNode, leader: bool) -> dict:
    options = dep.kubernetes
    assert options is not None
    labels = _labels(dep, "leader" if leader else "worker")
    metadata: dict = {"labels": labels}
    if options.annotations:
        metadata["annotations"] = dict(options.annotations)
    volumes = [{"name": k8s.SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": k8s.quantity(dep.shm_bytes)}}]
    return {"metadata": metadata, "spec": {**k8s._scheduling(dep, options),
                                           "containers": [_container(dep, launch, multi, leader)],
                                           "volumes": volumes}}


def _labels(dep: LoweredDeployment, component: str) -> dict[str, str]:
    assert dep.kubernetes is not None
    out = k8s._all_labels(dep, dep.kubernetes)
    out["app.kubernetes.io/component"] = component
    return dict(sorted(out.items()))


def _metadata(dep: LoweredDeployment, component: str) -> dict:
    assert dep.kubernetes is not None
    out: dict = {"name": dep.name}
    if dep.kubernetes.namespace:
        out["namespace"] = dep.kubernetes.namespace
    out["labels"] = _labels(dep, component)
    if dep.kubernetes.annotations:
        out["annotations"] = dict(dep.kubernetes.annotations)
    return out


def launch_of(multi: MultiNode) -> NodeLaunch:
    """vLLM's own multi-node mode where the release has it (no Ray cluster to run), else Ray."""
    launch = multi.mp if multi.preferred == "mp" and multi.mp is not None else multi.ray or multi.mp
    if launch is None:
        raise ValueError("a multi-node deployment was lowered without a launch")
    return launch


def documents(dep: LoweredDeployment) -> list[dict]:
    multi, options = dep.multinode, dep.kubernetes
    if multi is None or options is None:
        raise ValueError(f"deployment {dep.name} was lowered without multi-node or Kubernetes options")
    launch = launch_of(multi)
    claim: dict = {"accessModes": ["ReadWriteOnce"]}
    if options.storage_class:
        claim["storageClassName"] = options.storage_class
    claim["resources"] = {"requests": {"storage": options.cache_size}}
    lws = {
        "apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "metadata": _metadata(dep, "server"),
        "spec": {
            "replicas": 1,
            "startupPolicy": "LeaderReady",
            "leaderWorkerTemplate": {
                "size": multi.nodes,
                "restartPolicy": "RecreateGroupOnPodRestart",
                "leaderTemplate": _template(dep, launch, multi, leader=True),
                "workerTemplate": _template(dep, launch, multi, leader=False),
                "volumeClaimTemplates": [{"metadata": {"name": k8s.CACHE_VOLUME}, "spec": claim}],
            },
        },
    }
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": _metadata(dep, "leader"),
        "spec": {"type": "ClusterIP",
                 "selector": {**k8s.labels(dep), "app.kubernetes.io/component": "leader"},
                 "ports": [{"name": k8s.PORT_NAME, "port": dep.port, "targetPort": k8s.PORT_NAME, "protocol": "TCP"}]},
    }
    return [lws, service]


def render(deployments: Sequence[LoweredDeployment], header: Header) -> bytes:
    from ruamel.yaml import YAML

    if len(deployments) != 1:
        raise ValueError(f"the {NAME} target renders one deployment per file, got {len(deployments)}")
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 1 << 16
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.explicit_start = True
    buffer = io.StringIO()
    yaml.dump_all(documents(deployments[0]), buffer)
    return ("\n".join(header.comment_lines()) + "\n" + buffer.getvalue()).encode("utf-8")

