"""`vllm-compile lock` against a local fake of the Hugging Face Hub (HTTP on 127.0.0.1).

The fake serves the endpoints huggingface_hub calls: model info per revision, file resolve
(HEAD + GET with Range for safetensors headers). Nothing reaches the real network."""
from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from server_thread import ServerThread

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "vllm_compile" / "data" / "model-configs"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
TOKEN = "hf_test_token"


def safetensors_file(tensors: dict[str, tuple[str, list[int]]]) -> bytes:
    header, offset = {}, 0
    sizes = {"BF16": 2, "F32": 4, "U8": 1, "F8_E4M3": 1}
    for name, (dtype, shape) in tensors.items():
        n = sizes[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\0" * offset


def tiny_llama_config() -> dict:
    return {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64,
            "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "vocab_size": 100, "max_position_embeddings": 512,
            "torch_dtype": "bfloat16", "tie_word_embeddings": False}


def tiny_llama_tensors() -> dict:
    t = {"model.embed_tokens.weight": ("BF16", [100, 64]), "lm_head.weight": ("BF16", [100, 64]),
         "model.norm.weight": ("BF16", [64])}
    for i in range(2):
        p = f"model.layers.{i}."
        t |= {p + "self_attn.q_proj.weight": ("BF16", [64, 64]), p + "self_attn.k_proj.weight": ("BF16", [32, 64]),
              p + "self_attn.v_proj.weight": ("BF16", [32, 64]), p + "self_attn.o_proj.weight": ("BF16", [64, 64]),
              p + "mlp.gate_proj.weight": ("BF16", [128, 64]), p + "mlp.up_proj.weight": ("BF16", [128, 64]),
              p + "mlp.down_proj.weight": ("BF16", [64, 128]), p + "input_layernorm.weight": ("BF16", [64]),
              p + "post_attention_layernorm.weight": ("BF16", [64])}
    return t


class FakeHub(ServerThread):
    """repos: id -> {"files": {name: bytes}, "gated": bool}"""

    def __init__(self, repos: dict):
        self.repos = repos
        self.requests: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code, body=b"", headers=None):
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _route(self):
                hub.requests.append(f"{self.command} {self.path} range={self.headers.get('range')}")
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "revision":
                    repo_id, rev = "/".join(parts[2:4]), parts[5]
                    repo = hub.repos.get(repo_id)
                    if repo is None:
                        return self._send(404, b'{"error":"Repository not found"}',
                                          {"X-Error-Code": "RepoNotFound", "Content-Type": "application/json"})
                    if rev not in ("main", COMMIT):
                        return self._send(404, b'{"error":"Invalid rev id"}',
                                          {"X-Error-Code": "RevisionNotFound", "Content-Type": "application/json"})
                    body = {"id": repo_id, "modelId": repo_id, "sha": COMMIT, "private": False,
                            "gated": "manual" if repo.get("gated") else False,
                            "siblings": [{"rfilename": n} for n in sorted(repo["files"])]}
                    return self._send(200, json.dumps(body).encode(), {"Content-Type": "application/json"})
                if len(parts) >= 5 and parts[2] == "resolve":
                    repo_id, rev, name = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
                    repo = hub.repos.get(repo_id)
                    if repo is None or name not in repo["files"]:
                        return self._send(404, b"", {"X-Error-Code": "EntryNotFound"})
                    if repo.get("gated") and self.headers.get("authorization") != f"Bearer {TOKEN}":
                        return self._send(401, b'{"error":"gated"}', {"X-Error-Code": "GatedRepo",
                                                                      "X-Error-Message": "Access restricted"})
                    data = repo["files"][name]
                    headers = {"X-Repo-Commit": COMMIT, "ETag": '"' + hashlib.sha1(data).hexdigest() + '"',
                               "Accept-Ranges": "bytes"}
                    rng = self.headers.get("range")
                    if rng and rng.startswith("bytes="):
                        start, _, end = rng[6:].partition("-")
                        start, end = int(start), min(int(end) if end else len(data) - 1, len(data) - 1)
                        return self._send(206, data[start:end + 1], headers)
                    return self._send(200, data, headers)
                return self._send(404)

            do_GET = do_HEAD = _route

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.start_thread()


def write_spec(folder: Path, model_id: str, extra: str = "") -> Path:
    spec = folder / "app.vllm.yaml"
    spec.write_text(f"""version: 1
hardware:
  gpu: L4
name: app
model:
  id: {model_id}
{extra}engine:
  version: 0.11.2
""")
    return spec


def run_lock(spec: Path, hub: FakeHub, tmp_path: Path, **env):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    environment |= {"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(tmp_path / "cache"),
                    "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", **env}
    return subprocess.run([sys.executable, "-m", "vllm_compile", "lock", str(spec)], capture_output=True,
                          text=True, env=environment, cwd=tmp_path, timeout=120)


def test_lock_writes_commit_digests_config_and_header_counts(tmp_path):
    config = json.dumps(tiny_llama_config()).encode()
    weights = safetensors_file(tiny_llama_tensors())
    repos = {"acme/tiny": {"files": {"config.json": config, "model.safetensors": weights}}}
    spec = write_spec(tmp_path, "acme/tiny")
    Path(str(spec) + ".lock").write_text(json.dumps({"hardware": {"gpus": ["kept"]}, "version": 1}))
    with FakeHub(repos) as hub:
        result = run_lock(spec, hub, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "acme/tiny" in result.stderr  # progress on stderr
    lock_text = Path(str(spec) + ".lock").read_text()
    lock = json.loads(lock_text)
    entry = lock["models"]["acme/tiny"]
    assert entry["commit"] == COMMIT
    assert entry["revision"] == "main"
    assert entry["files"]["config.json"] == "sha256:" + hashlib.sha256(config).hexdigest()
    assert entry["config"] == tiny_llama_config()
    # 2 layers × (64·64·2 + 32·64·2 + 128·64·3 + 2·64) + 2·100·64 + 64, all BF16
    assert entry["safetensors_dtypes"] == {"BF16": 2 * (8192 + 4096 + 24576 + 128) + 12800 + 64}
    assert lock["hardware"] == {"gpus": ["kept"]}          # another tool's section survives
    assert lock_text == json.dumps(lock, indent=2, sort_keys=True) + "\n"  # deterministic form
    assert "timestamp" not in lock_text and str(tmp_path) not in lock_text
    # A safetensors header is read by range, never the whole file.
    weight_gets = [r for r in hub.requests if r.startswith("GET") and r.split()[1].endswith(".safetensors")]
    assert weight_gets and all("range=bytes=" in r for r in weight_gets)

    # compile's resolve step now takes the facts from the lock, offline.
    from vllm_compile.diagnostics import SourceMap
    from vllm_compile.ir.spec import ModelSpec
    from vllm_compile.resolve.models import load_lock, lock_matches, resolve_model

    loaded = load_lock(str(spec))
    model = ModelSpec(id="acme/tiny")
    assert lock_matches(loaded, model)
    assert not lock_matches(loaded, ModelSpec(id="acme/tiny", revision="v2"))
    facts = resolve_model(model, spec_dir=str(tmp_path), source=SourceMap("app.vllm.yaml"), key_prefix="",
                          lock=loaded)
    assert facts.source == "lock" and facts.revision == COMMIT
    assert facts.weights_from_headers
    assert facts.weight_bytes == 2 * entry["safetensors_dtypes"]["BF16"]
    assert facts.parameters == entry["safetensors_dtypes"]["BF16"]


def test_lock_gated_model_names_model_and_token_variable(tmp_path):
    repos = {"acme/secret": {"gated": True, "files": {"config.json": json.dumps(tiny_llama_config()).encode()}}}
    spec = write_spec(tmp_path, "acme/secret", extra="server:\n  hf_token_env: ACME_TOKEN\n")
    with FakeHub(repos) as hub:
        denied = run_lock(spec, hub, tmp_path)
        allowed = run_lock(spec, hub, tmp_path, ACME_TOKEN=TOKEN)
    assert denied.returncode == 2
    assert "acme/secret" in denied.stderr and "ACME_TOKEN" in denied.stderr
    assert "Traceback" not in denied.stderr
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(Path(str(spec) + ".lock").read_text())["models"]["acme/secret"]["gated"] is True


def test_lock_unknown_repo_and_revision_exit_2(tmp_path):
    repos = {"acme/tiny": {"files": {"config.json": json.dumps(tiny_llama_config()).encode()}}}
    with FakeHub(repos) as hub:
        missing = run_lock(write_spec(tmp_path, "acme/nothing"), hub, tmp_path)
        bad_rev = run_lock(write_spec(tmp_path, "acme/tiny", extra="  revision: nope\n"), hub, tmp_path)
    assert missing.returncode == 2 and "acme/nothing" in missing.stderr and "Traceback" not in missing.stderr
    assert bad_rev.returncode == 2 and "nope" in bad_rev.stderr and "Traceback" not in bad_rev.stderr


def test_lock_refuses_unreadable_config(tmp_path):
    repos = {"acme/odd": {"files": {"config.json": b'{"model_type": "mystery"}'}}}
    with FakeHub(repos) as hub:
        result = run_lock(write_spec(tmp_path, "acme/odd"), hub, tmp_path)
    assert result.returncode == 2
    assert "mystery" in result.stderr and "num_hidden_layers" in result.stderr
    assert not Path(str(tmp_path / "app.vllm.yaml") + ".lock").exists()


def test_lock_real_config_with_modelopt_quant_file(tmp_path):
    folder = CONFIGS / "nvidia" / "Llama-3.1-70B-Instruct-FP8"
    files = {n: (folder / n).read_bytes() for n in ("config.json", "hf_quant_config.json")}
    repos = {"nvidia/Llama-3.1-70B-Instruct-FP8": {"files": files}}
    with FakeHub(repos) as hub:
        result = run_lock(write_spec(tmp_path, "nvidia/Llama-3.1-70B-Instruct-FP8"), hub, tmp_path)
    assert result.returncode == 0, result.stderr
    entry = json.loads(Path(str(tmp_path / "app.vllm.yaml") + ".lock").read_text())["models"][
        "nvidia/Llama-3.1-70B-Instruct-FP8"]
    assert entry["quant_config"]["quantization"]["quant_algo"] == "FP8"
    assert entry["files"]["hf_quant_config.json"] == "sha256:" + hashlib.sha256(
        files["hf_quant_config.json"]).hexdigest()
    assert "safetensors_dtypes" not in entry  # the fake repo has no weights to read headers from


ADAPTERS = """  lora_adapters:
    - name: sql
      id: acme/sql-lora
    - name: notes
      id: acme/not-an-adapter
"""


def test_lock_records_lora_adapters_by_id_and_compile_reads_them_offline(tmp_path):
    adapter = json.dumps({"peft_type": "LORA", "r": 48}).encode()
    repos = {"acme/tiny": {"files": {"config.json": json.dumps(tiny_llama_config()).encode()}},
             "acme/sql-lora": {"files": {"adapter_config.json": adapter, "adapter_model.safetensors": b"x"}},
             "acme/not-an-adapter": {"files": {"config.json": b"{}"}}}
    spec = write_spec(tmp_path, "acme/tiny", extra=ADAPTERS)
    with FakeHub(repos) as hub:
        refused = run_lock(spec, hub, tmp_path)
        assert refused.returncode == 2 and not Path(str(spec) + ".lock").exists()
        assert "model.lora_adapters[1].id: acme/not-an-adapter has no adapter_config.json" in refused.stderr
        spec.write_text(spec.read_text().replace("    - name: notes\n      id: acme/not-an-adapter\n", ""))
        result = run_lock(spec, hub, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 LoRA adapter(s)" in result.stderr
    # Only the adapter's config is fetched, never its weights.
    assert not any("adapter_model" in r for r in hub.requests)
    entry = json.loads(Path(str(spec) + ".lock").read_text())["adapters"]["acme/sql-lora"]
    assert entry["commit"] == COMMIT and entry["adapter_config"] == {"peft_type": "LORA", "r": 48}
    assert entry["files"]["adapter_config.json"] == "sha256:" + hashlib.sha256(adapter).hexdigest()

    # compile takes the rank from the lock, with an empty Hugging Face cache and no network.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    environment |= {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "empty-cache")}
    compiled = subprocess.run([sys.executable, "-m", "vllm_compile", "compile", str(spec)], capture_output=True,
                              text=True, env=environment, cwd=tmp_path, timeout=120)
    assert compiled.returncode == 0, compiled.stderr
    script = (tmp_path / "deploy" / "app" / "docker-run.sh").read_text()
    assert "--max-lora-rank 64" in script and "--lora-modules sql=acme/sql-lora" in script
