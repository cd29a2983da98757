"""Check 9: a local model.path holds the weights the plan counts, on real folders."""
import dataclasses
import json

from doctor_fakes import MIB, context, deploy
from vllm_compile.doctor import CHECKS
from vllm_compile.doctor.weights import check_model_files

SHARD = 4 * MIB


def local(tmp_path, weight_bytes=3 * SHARD, **kw):
    folder = tmp_path / "models" / "qwen"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{}")
    dep = deploy(path="./models/qwen", weight_bytes=weight_bytes, **kw)
    return folder, dataclasses.replace(dep, model_dir=str(folder))


def shard(folder, name, size=SHARD):
    (folder / name).write_bytes(b"\0" * size)


def index(folder, names):
    (folder / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {f"layer.{i}": n for i, n in enumerate(names)}}))


def test_not_run_without_a_local_model():
    assert check_model_files(context(deploy())) is None


def test_config_only_folder_fails(tmp_path):
    folder, dep = local(tmp_path)
    finding = check_model_files(context(dep))
    assert finding.status == "fail" and "holds no weights" in finding.found and "config.json" in finding.fix


def test_complete_sharded_checkpoint_is_ok(tmp_path):
    folder, dep = local(tmp_path)
    names = [f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)]
    for name in names:
        shard(folder, name)
    index(folder, names)
    finding = check_model_files(context(dep))
    assert finding.status == "ok", finding
    assert "3 safetensors shards listed in model.safetensors.index.json, 12 MiB" in finding.found


def test_missing_shard_fails_naming_it(tmp_path):
    folder, dep = local(tmp_path)
    names = [f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)]
    for name in names[:2]:
        shard(folder, name)
    index(folder, names)
    finding = check_model_files(context(dep))
    assert finding.status == "fail" and "lacks 1 of the safetensors shards" in finding.found
    assert "model-00003-of-00003.safetensors" in finding.found


def test_truncated_download_fails(tmp_path):
    folder, dep = local(tmp_path)
    shard(folder, "model.safetensors", 2 * SHARD)     # two thirds of the planned bytes
    finding = check_model_files(context(dep))
    assert finding.status == "fail" and "4 MiB missing" in finding.found


def test_within_a_few_percent_is_ok_and_far_above_warns(tmp_path):
    folder, dep = local(tmp_path)
    shard(folder, "model.safetensors", int(3 * SHARD * 1.03))
    assert check_model_files(context(dep)).status == "ok"
    shard(folder, "consolidated.safetensors", 3 * SHARD)   # a second copy of the weights
    finding = check_model_files(context(dep))
    assert finding.status == "warn" and "more than planned" in finding.found


def test_float32_checkpoint_loaded_as_16_bit_is_twice_the_plan(tmp_path):
    folder, dep = local(tmp_path)
    dep = dataclasses.replace(dep, model=dataclasses.replace(dep.model, dtype="float32"))
    shard(folder, "pytorch_model.bin", 6 * SHARD)
    finding = check_model_files(context(dep))
    assert finding.status == "ok" and "PyTorch .bin files" in finding.found


def test_doctor_runs_it_after_the_cache_check():
    names = [c.__name__ for c in CHECKS]
    assert names.index("check_model_files") == names.index("check_cache") + 1
