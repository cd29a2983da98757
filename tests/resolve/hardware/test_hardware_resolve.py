import ctypes.util
import json

import pytest
from hardware_fakes import DRIVER, FakeNvml, device, h100_host

from vllm_compile.diagnostics import CompileError, SourceMap
from vllm_compile.ir.facts import HardwareFacts
from vllm_compile.ir.spec import HardwareSpec
from vllm_compile.resolve.hardware import hardware_from_lock, hardware_lock_section, lookup_gpu, resolve_hardware
from vllm_compile.resolve.hardware.detect import detect

GIB = 1 << 30
SRC = SourceMap("deploy.vllm.yaml", {"hardware": (4, 1), "hardware.gpu": (5, 8), "hardware.count": (6, 10),
                                     "deployments[1].hardware.gpu": (20, 8)})


class Untouchable:
    def query(self):
        raise AssertionError("NVML must not be queried")


def resolve(nvml=None, lock=None, **hw):
    return resolve_hardware(HardwareSpec(**hw), source=SRC, lock_hardware=lock, nvml=nvml or Untouchable())


def errors(**kw):
    with pytest.raises(CompileError) as info:
        resolve(**kw)
    return info.value.diagnostics


def test_declared_gpu_times_count():
    facts = resolve(gpu="h100", count=2)
    assert [h.index for h in facts.gpus] == [0, 1]
    assert all(h.gpu == lookup_gpu("H100-SXM-80GB") and h.uuid is None for h in facts.gpus)
    assert not facts.detected


def test_memory_override():
    facts = resolve(gpu="NVIDIA L4", memory_gib=21.5)
    assert facts.gpu.memory_bytes == 21.5 * GIB and facts.gpu.name == "L4"


def test_declared_device_ids():
    facts = resolve(gpu="A100-80GB", device_ids=["2", "GPU-abc-123"])
    assert [(h.index, h.uuid) for h in facts.gpus] == [(2, None), (1, "GPU-abc-123")]


def test_unknown_gpu_points_at_the_key_and_suggests():
    (diag,) = errors(gpu="H10")
    assert (diag.file, diag.line, diag.column, diag.key) == ("deploy.vllm.yaml", 5, 8, "hardware.gpu")
    assert diag.found == "'H10'" and "did you mean" in diag.fix and "'H100-SXM-80GB'" in diag.fix


def test_key_prefix_for_multi_deployment_files():
    with pytest.raises(CompileError) as info:
        resolve_hardware(HardwareSpec(gpu="L5"), source=SRC, key_prefix="deployments[1].")
    assert info.value.diagnostics[0].line == 20


@pytest.mark.parametrize("hw,key,text", [
    ({"device_ids": ["gpu0"]}, "hardware.device_ids[0]", "not a GPU index or UUID"),
    ({"device_ids": ["1", "1"]}, "hardware.device_ids[1]", "twice"),
    ({"device_ids": ["0", "1"], "count": 3}, "hardware.count", "disagrees"),
])
def test_bad_device_ids(hw, key, text):
    (diag,) = errors(gpu="L4", **hw)
    assert diag.key == key and text in diag.message and diag.fix


@pytest.mark.skipif(ctypes.util.find_library("nvidia-ml") is not None, reason="this machine has an NVIDIA driver")
def test_auto_without_driver_says_how_to_declare():
    with pytest.raises(CompileError) as info:
        resolve_hardware(HardwareSpec(gpu="auto"), source=SRC)
    (diag,) = info.value.diagnostics
    assert diag.key == "hardware.gpu" and diag.line == 5
    assert "no NVIDIA driver" in diag.message and "hardware:" in diag.fix and "vllm-compile lock" in diag.fix


def test_auto_takes_every_detected_gpu_unless_count_given():
    assert len(resolve(gpu="auto", nvml=h100_host(8)).gpus) == 8
    facts = resolve(gpu="AUTO", nvml=h100_host(8), count=4)
    assert [h.index for h in facts.gpus] == [0, 1, 2, 3] and facts.detected


def test_auto_too_many_gpus():
    (diag,) = errors(gpu="auto", nvml=h100_host(2), count=4)
    assert diag.key == "hardware.count" and "at most 2" in diag.expected


def test_auto_pins_by_uuid_and_index():
    nvml = h100_host(4)
    uuid3 = nvml.snapshot.devices[3].uuid
    facts = resolve(gpu="auto", nvml=nvml, device_ids=[uuid3.lower(), "1"])
    assert [(h.index, h.uuid) for h in facts.gpus] == [(3, uuid3), (1, nvml.snapshot.devices[1].uuid)]


def test_auto_unknown_pin():
    (diag,) = errors(gpu="auto", nvml=h100_host(2), device_ids=["GPU-ffff"])
    assert "no such GPU" in diag.message and "GPU-00000001" in diag.expected


def test_auto_prefers_the_lock_file():
    section = hardware_lock_section(detect(h100_host(2)))
    facts = resolve(gpu="auto", lock=section)
    assert facts == detect(h100_host(2))


def test_declared_gpu_ignores_lock_and_nvml():
    facts = resolve(gpu="L40S", lock={"gpus": "garbage"})
    assert facts.gpu.name == "L40S"


def test_malformed_lock_section():
    (diag,) = errors(gpu="auto", lock={"gpus": [{"index": 0}]})
    assert "lock file" in diag.message and "vllm-compile lock" in diag.fix


def test_lock_section_is_plain_deterministic_data():
    facts = detect(FakeNvml([device(1, "NVIDIA L4", 23034, (8, 9)), device(0, "NVIDIA GeForce GTX 1080", 8192, (6, 1))]))
    section = hardware_lock_section(facts)
    assert json.loads(json.dumps(section, sort_keys=True)) == section
    assert [g["index"] for g in section["gpus"]] == [0, 1]
    l4 = section["gpus"][1]
    assert (l4["name"], l4["compute_capability"], l4["memory_bytes"]) == ("L4", "8.9", round(22.04 * GIB))
    assert section["driver_version"] == DRIVER and len(section["warnings"]) == 1


def test_lock_round_trip_keeps_unknown_cards():
    facts = detect(FakeNvml([device(0, "NVIDIA GeForce GTX 1080", 8192, (6, 1)), device(1, "Tesla T4", 15360, (7, 5))]))
    back = hardware_from_lock(json.loads(json.dumps(hardware_lock_section(facts))))
    assert isinstance(back, HardwareFacts) and back == facts
