"""Fakes at the doctor's boundaries: a Docker Engine API on a unix socket (or TCP), an NVML
adapter, and hand-built planned deployments."""
from __future__ import annotations

import json
import os
import socketserver
import stat
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from nvml_fake import FakeNvml  # noqa: F401  (re-exported for the doctor tests)
from server_thread import ServerThread

from vllm_compile.doctor import Context, Deploy
from vllm_compile.ir.facts import ModelFacts
from vllm_compile.ir.plan import Ledger, Plan
from vllm_compile.ir.spec import DeploymentSpec
from vllm_compile.resolve.hardware.nvml import NvmlDevice

GIB = 1 << 30
MIB = 1 << 20


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        status, body = self.server.routes.get(self.path, (404, {"message": "page not found"}))
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if not isinstance(body, bytes) else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # keep test output quiet
        pass

    def address_string(self):  # unix sockets have no client address
        return "unix"


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        request, _ = super().get_request()
        return request, ("unix", 0)


class FakeDocker(ServerThread):
    """A Docker Engine API answering /_ping and /info; use as a context manager."""

    def __init__(self, path: str | None = None, info: dict | None = None, ping=(200, b"OK"), tcp: bool = False):
        self.routes = {"/_ping": ping, "/info": (200, info if info is not None else daemon_info())}
        if tcp:
            self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
            self.address = "tcp://127.0.0.1:%d" % self.server.server_address[1]
        else:
            self.server = _UnixServer(path, _Handler)
            self.address = f"unix://{path}"
        self.server.routes = self.routes
        self.server.requests = []
        self.start_thread(poll_interval=0.05)

    @property
    def requests(self):
        return self.server.requests


def daemon_info(runtimes=("runc", "nvidia"), cdi_dirs=(), devices=(), version="27.3.1") -> dict:
    info = {"ServerVersion": version, "DefaultRuntime": "runc", "CDISpecDirs": list(cdi_dirs),
            "Runtimes": {name: {"path": name if name == "runc" else f"/usr/bin/{name}-container-runtime"}
                         for name in runtimes}}
    if devices:
        info["DiscoveredDevices"] = [{"Source": "cdi", "ID": d} for d in devices]
    return info


def fake_cli(folder, name: str = "docker", compose_rc: int = 0) -> str:
    """An executable standing in for a CLI: `docker compose version --short` prints 2.29.7."""
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n"
                f'if [ "$1" = compose ]; then [ {compose_rc} -eq 0 ] && echo 2.29.7; exit {compose_rc}; fi\n'
                "exit 0\n")
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


# nvidia-smi shows 23034 MiB for an L4 and 23028 MiB for an A10G.
def l4(index, free_gib: float | None, uuid=None):
    return NvmlDevice(index, "NVIDIA L4", uuid or f"GPU-{index:04d}", 23034 * MIB, (8, 9),
                      memory_free=None if free_gib is None else int(free_gib * GIB))


def a10g(index, free_gib: float):
    return NvmlDevice(index, "NVIDIA A10G", f"GPU-a10g-{index}", 23028 * MIB, (8, 6), memory_free=int(free_gib * GIB))


def plan(gpus=1, requested=20 * GIB, total=22 * GIB, util=0.9, verdict="ok") -> Plan:
    ledger = Ledger(total_bytes=total, requested_bytes=requested, weights_bytes=0, activation_bytes=0,
                    non_torch_bytes=0, cuda_graph_bytes=0, kv_cache_bytes=0, kv_bytes_per_token=0)
    return Plan(vllm_version="0.11.0", engine="v1", tensor_parallel_size=gpus, pipeline_parallel_size=1,
                max_model_len=4096, gpu_memory_utilization=util, block_size=16, per_gpu=ledger, kv_cache_tokens=0,
                max_concurrency=1.0, verdict=verdict, reasons=(), fixes=(), dtype="bfloat16", kv_cache_dtype="auto",
                max_num_seqs=1, max_num_batched_tokens=2048, enforce_eager=False)


def model(model_id="Qwen/Qwen2.5-7B-Instruct", gated=False, weight_bytes=15 * GIB) -> ModelFacts:
    return ModelFacts(model_id=model_id, model_type="qwen2", architecture="Qwen2ForCausalLM", source="catalog",
                      num_layers=1, hidden_size=1, num_attention_heads=1, num_kv_heads=1, head_dim=1,
                      intermediate_size=1, vocab_size=1, tie_word_embeddings=False, max_position_embeddings=1,
                      dtype="bfloat16", layers=(), parameters=1, weight_bytes=weight_bytes, embedding_bytes_per_row=0,
                      lm_head_bytes_per_row=0, final_norm_bytes=0, gated=gated)


def deploy(name="chat", model_id="Qwen/Qwen2.5-7B-Instruct", version="0.11.0", gpus=1, port=8000, gated=False,
           weight_bytes=15 * GIB, device_ids=None, image=None, path=None, api_key_env=None, **plan_kw) -> Deploy:
    model_spec = {"path": path} if path else {"id": model_id}
    engine = {"version": version, **({"image": image} if image else {})}
    server = {"port": port, **({"api_key_env": api_key_env} if api_key_env else {})}
    spec = DeploymentSpec.model_validate({"name": name, "model": model_spec, "engine": engine, "server": server})
    return Deploy(name=name, spec=spec, model=model(model_id, gated, weight_bytes), plan=plan(gpus, **plan_kw),
                  device_ids=device_ids)


def context(*deployments, gpu="L4", count=None, **kw) -> Context:
    from vllm_compile.ir.facts import HardwareFacts, HostGpu
    from vllm_compile.resolve.hardware.catalog import lookup_gpu

    n = count or max(1, sum(d.plan.gpus for d in deployments))
    hardware = HardwareFacts(gpus=tuple(HostGpu(i, lookup_gpu(gpu)) for i in range(n)))
    kw.setdefault("environ", {})
    return Context(deployments=tuple(deployments), hardware=hardware, has_spec=True, **kw)
