"""Across nodes (hardware.nodes > 1): the planner's rules, the lws and ray targets, and what is
refused. Specs are compiled through the whole pipeline; the artifacts go through the real
validators (the LWS CRD's schema, kubernetes-validate, shellcheck) and the ray scripts are run
with a fake `docker` that records each node's argv."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
from click.testing import CliRunner

from validators import check_leaderworkerset, check_lws, check_script, kubernetes_documents, run_with_fakes
from vllm_compile import pipeline
from vllm_compile.cli import cli
from vllm_compile.diagnostics import CompileError

BASE = """version: 1
name: big
model:
  id: {model}
hardware:
  gpu: {gpu}
  count: {count}
  nodes: {nodes}
{hardware}workload:
  max_model_len: {length}
  concurrency: 2
engine:
  version: "{version}"
{engine}output:
  formats: [{formats}]
"""


def write(tmp_path: Path, *, model="meta-llama/Meta-Llama-3.1-405B", gpu="H100-SXM-80GB", count=8, nodes=2,
          hardware="", length=8192, version="0.33.0", engine="", formats="lws, ray") -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(BASE.format(model=model, gpu=gpu, count=count, nodes=nodes, hardware=hardware, length=length,
                                version=version, engine=engine, formats=formats))
    return path


def plan_of(path: Path):
    result = pipeline.run(str(path), pipeline.Options(allow_plan_failure=True), until=pipeline.plan)
    return result.plans[0], result.warnings


def choice(plan, knob):
    return next(c for c in plan.choices if c.knob == knob)


def test_tp_within_node_pp_across_nodes(tmp_path):
    plan, _ = plan_of(write(tmp_path))
    assert (plan.tensor_parallel_size, plan.pipeline_parallel_size, plan.verdict) == (8, 2, "ok")
    assert choice(plan, "tensor_parallel_size").reason.startswith("rule tp-within-node")
    assert choice(plan, "pipeline_parallel_size").reason.startswith("tp-within-node")
    # Every stage's ledger is evaluated, and the plan reports the one that limits the KV cache.
    assert [r.stage for r in plan.ranks] == [0, 1] and plan.per_gpu in plan.ranks


def test_without_nvlink_pipeline_stages_replace_tensor_shards(tmp_path):
    plan, _ = plan_of(write(tmp_path, hardware="  interconnect: pcie\n"))
    assert (plan.tensor_parallel_size, plan.pipeline_parallel_size) == (1, 16)
    assert choice(plan, "tensor_parallel_size").reason.startswith("rule pp-without-nvlink")


def test_heads_that_do_not_split_over_a_node_take_pipeline_stages(tmp_path):
    # 128 heads over 6 GPUs: the largest size that splits them and divides the node is 2.
    plan, _ = plan_of(write(tmp_path, count=6, nodes=3))
    assert (plan.tensor_parallel_size, plan.pipeline_parallel_size) == (2, 9)
    assert choice(plan, "tensor_parallel_size").reason.startswith("rule pp-uneven-heads")


def test_tensor_parallel_across_nodes_only_when_pinned_and_with_a_warning(tmp_path):
    plan, warnings = plan_of(write(tmp_path, engine="  tensor_parallel_size: 16\n"))
    assert (plan.tensor_parallel_size, plan.pipeline_parallel_size, plan.verdict) == (16, 1, "ok")
    assert any("spans 2 nodes" in w.message for w in warnings)


def test_sizes_must_fill_every_gpu_of_every_node(tmp_path):
    path = write(tmp_path, engine="  tensor_parallel_size: 8\n  pipeline_parallel_size: 1\n")
    with pytest.raises(CompileError) as caught:
        pipeline.run(str(path), until=pipeline.plan)
    [diag] = caught.value.diagnostics
    assert "= 8 GPUs, but hardware.nodes 2 x hardware.count 8 = 16" in diag.message


def test_moe_gets_data_parallel_attention_with_expert_parallelism(tmp_path):
    plan, _ = plan_of(write(tmp_path, model="deepseek-ai/DeepSeek-R1", engine=""))
    assert (plan.tensor_parallel_size, plan.pipeline_parallel_size, plan.data_parallel_size) == (8, 1, 2)
    assert plan.enable_expert_parallel and plan.verdict == "ok"
    assert choice(plan, "data_parallel_size").reason.startswith("moe-dp-ep")


def test_backend_follows_what_the_release_has(tmp_path):
    plan, _ = plan_of(write(tmp_path))
    assert plan.multi_node_backend == "mp" and "--nnodes" in choice(plan, "multi_node_backend").reason
    old, _ = plan_of(write(tmp_path, version="0.10.1.1"))
    assert old.multi_node_backend == "ray" and "no --nnodes" in choice(old, "multi_node_backend").reason


def test_too_few_nodes_offers_more_nodes(tmp_path):
    path = write(tmp_path, gpu="L40S", count=4, nodes=2, formats="ray")
    plan, _ = plan_of(path)
    assert plan.verdict == "weights_do_not_fit"
    assert plan.fixes and plan.fixes[-1].settings[0][0] == "hardware.nodes"
    assert plan.fixes[-1].settings[0][1] > 2 and plan.fixes[-1].verdict == "ok"


def compile_to(tmp_path: Path, path: Path) -> Path:
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["compile", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_lws_mp_mode_validates_and_workers_join_headless(tmp_path):
    out = compile_to(tmp_path, write(tmp_path, formats="lws"))
    documents = check_lws(out / "lws.yaml")
    [group] = [d for d in documents if d["kind"] == "LeaderWorkerSet"]
    spec = group["spec"]
    assert spec["startupPolicy"] == "LeaderReady"
    assert spec["leaderWorkerTemplate"]["size"] == 2
    assert spec["leaderWorkerTemplate"]["restartPolicy"] == "RecreateGroupOnPodRestart"
    [worker] = spec["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"]
    args = worker["args"]
    assert args[args.index("--node-rank") + 1] == "$(LWS_WORKER_INDEX)" and "--headless" in args
    assert args[args.index("--master-addr") + 1] == "$(LWS_LEADER_ADDRESS)"
    [service] = [d for d in documents if d["kind"] == "Service"]
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "leader"


def test_lws_on_a_release_without_its_own_mode_starts_ray(tmp_path):
    out = compile_to(tmp_path, write(tmp_path, version="0.10.1.1", formats="lws"))
    documents = check_lws(out / "lws.yaml")
    template = documents[0]["spec"]["leaderWorkerTemplate"]
    [leader] = template["leaderTemplate"]["spec"]["containers"]
    [worker] = template["workerTemplate"]["spec"]["containers"]
    assert leader["args"][0].startswith("ray start --head --port=6379")
    assert "--distributed-executor-backend ray" in leader["args"][0]
    assert worker["args"] == ['exec ray start --block --address=$(LWS_LEADER_ADDRESS):6379 '
                              '--node-ip-address="$VLLM_HOST_IP"']


@pytest.mark.parametrize("version", ["0.6.6.post1", "0.7.3", "0.10.1.1", "0.33.0"])
def test_every_vllm_serve_line_parses_for_its_release(tmp_path, version):
    # 0.6 and 0.7 require the model as `vllm serve MODEL` (their model_tag has no default):
    # `vllm serve --model X` would stop there with a usage error.
    from test_golden import serve_argv

    from vllm_compile.engine_args import parse_serve_args
    from vllm_compile.flags import load_manifest

    import shlex

    out = compile_to(tmp_path, write(tmp_path, version=version))
    manifest = load_manifest(version)
    lines = [serve_argv(c) for c in _serving_containers(out / "lws.yaml")]
    serve_sh = (out / "ray" / "serve.sh").read_text()
    lines.append(shlex.split(serve_sh.split("vllm serve", 1)[1].replace("\\\n", " ")))
    for words in lines:
        model, _, problems = parse_serve_args(["vllm", "serve", *words], manifest)
        assert problems == () and model == "meta-llama/Meta-Llama-3.1-405B", (words[:3], problems)


def _serving_containers(lws: Path) -> list[dict]:
    template = kubernetes_documents(lws)[0]["spec"]["leaderWorkerTemplate"]
    containers = [c for role in ("leaderTemplate", "workerTemplate") for c in template[role]["spec"]["containers"]]
    return [c for c in containers if c.get("command") == ["vllm", "serve"] or "exec vllm serve " in c["args"][0]]


def test_leaderworkerset_schema_refuses_unknown_fields_and_bad_sizes(tmp_path):
    out = compile_to(tmp_path, write(tmp_path, formats="lws"))
    group = kubernetes_documents(out / "lws.yaml")[0]
    check_leaderworkerset(group)
    typo = copy.deepcopy(group)
    typo["spec"]["leaderWorkerTemplate"]["restartPolicyy"] = "None"
    with pytest.raises(AssertionError, match="restartPolicyy"):
        check_leaderworkerset(typo)
    wrong = copy.deepcopy(group)
    wrong["spec"]["leaderWorkerTemplate"]["size"] = "two"
    with pytest.raises(AssertionError):
        check_leaderworkerset(wrong)
    zero = copy.deepcopy(group)
    zero["spec"]["leaderWorkerTemplate"]["size"] = 0
    with pytest.raises(AssertionError, match="size"):
        check_leaderworkerset(zero)


def test_ray_scripts_run_each_node_with_its_own_address(tmp_path):
    hardware = "  network: infiniband\n  node_addresses: [10.1.0.1, 10.1.0.2]\n"
    out = compile_to(tmp_path, write(tmp_path, formats="ray", hardware=hardware))
    env = {"HF_TOKEN": "t", "NCCL_SOCKET_IFNAME": "ib0", "GLOO_SOCKET_IFNAME": "ib0"}
    runs = {}
    for name in ("node-0.sh", "node-1.sh", "serve.sh"):
        script = out / "ray" / name
        check_script(script)
        result, entries = run_with_fakes(script, tmp_path, env, watch=("HF_TOKEN", "VLLM_HOST_IP"))
        assert result.returncode == 0, result.stderr
        runs[name] = entries
    # Each node script first looks for a container of its name to replace (none here).
    inspect, head = runs["node-0.sh"]
    assert inspect["argv"] == ["container", "inspect", "big-node-0"]
    _, worker = runs["node-1.sh"]
    for entry, index, address in ((head, 0, "10.1.0.1"), (worker, 1, "10.1.0.2")):
        argv = entry["argv"]
        assert entry["prog"] == "docker" and argv[:3] == ["run", "--name", f"big-node-{index}"]
        assert argv[argv.index("--network") + 1] == "host" and argv[argv.index("--gpus") + 1] == "all"
        assert argv[argv.index("--shm-size") + 1] == "16g"
        assert ["--ulimit", "memlock=-1"] == argv[argv.index("memlock=-1") - 1:argv.index("memlock=-1") + 1]
        assert argv[argv.index("--log-driver") + 1] == "json-file"
        assert f"RAY_NODE_IP_ADDRESS={address}" in argv and "IPC_LOCK" in argv
        assert entry["env"]["VLLM_HOST_IP"] == address
        assert argv[-3:-1] == ["vllm/vllm-openai:v0.33.0", "-c"]
    assert head["argv"][-1] == "ray start --block --head --node-ip-address=10.1.0.1 --port=6379"
    assert worker["argv"][-1] == "ray start --block --address=10.1.0.1:6379 --node-ip-address=10.1.0.2"
    wait, serve = runs["serve.sh"]
    assert wait["argv"][:2] == ["exec", "big-node-0"]
    argv = serve["argv"]
    assert argv[:4] == ["exec", "big-node-0", "vllm", "serve"]
    assert argv[argv.index("--tensor-parallel-size") + 1] == "8"
    assert argv[argv.index("--pipeline-parallel-size") + 1] == "2"
    # No API key: the server (on the head's host network) listens on the loopback address only.
    assert argv[-4:] == ["--distributed-executor-backend", "ray", "--host", "127.0.0.1"]


def test_a_worker_script_refuses_the_head_address(tmp_path):
    out = compile_to(tmp_path, write(tmp_path, formats="ray"))
    env = {"HF_TOKEN": "t", "NCCL_SOCKET_IFNAME": "eth0", "GLOO_SOCKET_IFNAME": "eth0",
           "VLLM_HEAD_ADDRESS": "10.0.0.1", "VLLM_HOST_IP": "10.0.0.1"}
    result, entries = run_with_fakes(out / "ray" / "node-1.sh", tmp_path, env)
    assert result.returncode != 0 and entries == []
    assert "must be the address of this node" in result.stderr


@pytest.mark.parametrize("nodes, formats, extra, code, key, words", [
    (2, "compose", "", "VC611", "output.formats", "run(s) the server on one host"),
    (1, "lws", "", "VC612", "hardware.nodes", "hardware.nodes is 1"),
    (2, "lws", "  extra_args: [--nnodes, '4']\n", "VC517", "engine.extra_args[0]", "set by vllm-compile"),
])
def test_refused(tmp_path, nodes, formats, extra, code, key, words):
    path = write(tmp_path, nodes=nodes, formats=formats, engine=extra,
                 model="meta-llama/Meta-Llama-3.1-405B" if nodes > 1 else "Qwen/Qwen3-8B", count=8)
    result = CliRunner().invoke(cli, ["compile", str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert f"error[{code}]: {key}:" in result.output and words in result.output
    assert not (tmp_path / "out").exists()


def test_node_addresses_must_match_nodes(tmp_path):
    path = write(tmp_path, hardware="  node_addresses: [10.0.0.1]\n", formats="ray")
    with pytest.raises(CompileError) as caught:
        pipeline.run(str(path), until=pipeline.plan)
    assert caught.value.diagnostics[0].key == "hardware.node_addresses"


def test_doctor_checks_a_node_of_a_multi_node_deployment(tmp_path):
    from vllm_compile.doctor import context_for
    from vllm_compile.doctor.nodes import check_nodes

    path = write(tmp_path, formats="ray", hardware="  network: infiniband\n  node_addresses: [10.0.0.1, 10.0.0.2]\n")
    result = pipeline.run(str(path), pipeline.Options(allow_plan_failure=True), until=pipeline.plan)
    sys_root = tmp_path / "sys"
    (sys_root / "class" / "net" / "eth0").mkdir(parents=True)
    dev = tmp_path / "dev"
    dev.mkdir()
    bad = check_nodes(context_for(result, environ={"NCCL_SOCKET_IFNAME": "ib0"}, sys_root=str(sys_root),
                                  dev_root=str(dev), shm_path=str(tmp_path)))
    assert bad is not None and bad.status == "fail"
    assert "VLLM_HOST_IP is not set" in bad.found and "GLOO_SOCKET_IFNAME is not set" in bad.found
    assert "names no interface" in bad.found and "infiniband" in bad.found
    (dev / "infiniband").mkdir()
    good = check_nodes(context_for(result, environ={"VLLM_HOST_IP": "10.0.0.2", "NCCL_SOCKET_IFNAME": "eth0",
                                                    "GLOO_SOCKET_IFNAME": "eth0"},
                                   sys_root=str(sys_root), dev_root=str(dev), shm_path=str(tmp_path)))
    assert good is not None and good.status in ("ok", "warn") and "head 10.0.0.1" in good.found


def test_check_catches_drift_in_every_multi_node_artifact(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path)
    assert CliRunner().invoke(cli, ["compile", str(path)]).exit_code == 0
    out = tmp_path / "deploy" / "big"
    assert CliRunner().invoke(cli, ["check", str(path)]).exit_code == 0
    lws = out / "lws.yaml"
    text = lws.read_text()
    assert text.count("size: 2\n") == 1
    lws.write_text(text.replace("size: 2\n", "size: 3\n"))
    worker = out / "ray" / "node-1.sh"
    worker.write_text(worker.read_text().replace("--gpus all", "--gpus 4"))
    result = CliRunner().invoke(cli, ["diff", str(path)])
    assert result.exit_code == 1
    lines = [line.strip() for line in result.stdout.splitlines()]
    # Multi-document YAML is compared per kind/name.
    assert "LeaderWorkerSet/big.spec.leaderWorkerTemplate.size: 3 -> 2" in lines
    assert any("ray/node-1.sh" in line and "differs" in line for line in lines)
    assert CliRunner().invoke(cli, ["check", str(path)]).exit_code == 1


def test_explain_names_the_rule_and_the_nodes(tmp_path):
    result = CliRunner().invoke(cli, ["explain", str(write(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "on 2 nodes x 8 x H100-SXM-80GB" in result.output
    assert "chosen: rule tp-within-node" in result.output
    assert "multi_node_backend       mp" in result.output


def test_several_deployments_cannot_span_nodes(tmp_path):
    path = tmp_path / "multi.yaml"
    path.write_text("""version: 1
hardware: {gpu: H100-SXM-80GB, count: 8, nodes: 2}
deployments:
  - name: a
    model: {id: Qwen/Qwen3-8B}
    engine: {version: "0.33.0"}
    output: {formats: [ray]}
""")
    with pytest.raises(CompileError) as caught:
        pipeline.run(str(path), until=pipeline.plan)
    assert caught.value.diagnostics[0].key == "hardware.nodes"


def test_ray_refuses_a_local_model_folder(tmp_path):
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text((Path(pipeline.__file__).parent / "data" / "model-configs" / "meta-llama"
                                        / "Meta-Llama-3.1-405B" / "config.json").read_text())
    path = write(tmp_path, formats="ray")
    path.write_text(path.read_text().replace("  id: meta-llama/Meta-Llama-3.1-405B", "  path: ./m"))
    result = CliRunner().invoke(cli, ["compile", str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "error[VC613]: model.path:" in result.output


def test_a_release_that_cannot_launch_data_parallel_across_nodes_is_refused(tmp_path):
    path = write(tmp_path, model="mistralai/Mixtral-8x7B-Instruct-v0.1", gpu="A100-SXM-80GB", count=2,
                 version="0.8.5.post1", engine="  extra_args: [--data-parallel-size, '2']\n", formats="ray")
    result = CliRunner().invoke(cli, ["compile", str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "error[VC404]: hardware.nodes:" in result.output and "no --data-parallel-size-local" in result.output


def test_ray_on_amd_nodes_passes_the_rocm_devices(tmp_path):
    out = compile_to(tmp_path, write(tmp_path, gpu="MI300X", formats="ray",
                                     hardware="  node_addresses: [10.1.0.1, 10.1.0.2]\n"))
    script = out / "ray" / "node-1.sh"
    check_script(script)
    env = {"HF_TOKEN": "t", "NCCL_SOCKET_IFNAME": "eth0", "GLOO_SOCKET_IFNAME": "eth0"}
    result, [_, entry] = run_with_fakes(script, tmp_path, env)
    assert result.returncode == 0, result.stderr
    argv = entry["argv"]
    assert "--gpus" not in argv and "--ulimit" not in argv and ["--device", "/dev/kfd"] == argv[argv.index("/dev/kfd") - 1:argv.index("/dev/kfd") + 1]
    assert "vllm/vllm-openai-rocm:v0.33.0" in argv
