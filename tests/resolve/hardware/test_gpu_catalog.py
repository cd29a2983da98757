import os

import pytest

from vllm_compile.resolve.hardware import UnknownGpuError, catalog, lookup_gpu
from vllm_compile.resolve.hardware.catalog import memory_note

os.environ.setdefault("HF_HUB_OFFLINE", "1")
GIB = 1 << 30

# Marketing memory (GB on the box) per entry, written down from the vendors' spec sheets; the
# driver-visible total must fall below it but not far below (within 10%).
NOMINAL_GB = {
    "T4": 16, "V100-SXM2-16GB": 16, "V100-SXM2-32GB": 32, "V100-PCIE-16GB": 16, "V100-PCIE-32GB": 32,
    "A10": 24, "A10G": 24, "A16": 16, "A30": 24, "A40": 48, "A100-SXM-40GB": 40, "A100-PCIE-40GB": 40,
    "A100-SXM-80GB": 80, "A100-PCIE-80GB": 80, "A800-SXM-80GB": 80, "A800-PCIE-80GB": 80, "L4": 24, "L20": 48,
    "L40": 48, "L40S": 48, "RTX-A4000": 16, "RTX-A5000": 24, "RTX-A6000": 48, "RTX-6000-Ada": 48,
    "RTX-3060": 12, "RTX-3060-Ti": 8, "RTX-3070": 8, "RTX-3070-Ti": 8, "RTX-3080": 10, "RTX-3080-Ti": 12,
    "RTX-3090": 24, "RTX-3090-Ti": 24, "RTX-4060-Ti-8GB": 8, "RTX-4060-Ti-16GB": 16, "RTX-4070": 12,
    "RTX-4070-Super": 12, "RTX-4070-Ti": 12, "RTX-4070-Ti-Super": 16, "RTX-4080": 16, "RTX-4080-Super": 16,
    "RTX-4090": 24, "RTX-5070-Ti": 16, "RTX-5080": 16, "RTX-5090": 32, "H20": 96, "H100-PCIE-80GB": 80,
    "H100-SXM-80GB": 80, "H100-NVL-94GB": 94, "H800-SXM-80GB": 80, "H800-PCIE-80GB": 80,
    "H200-SXM-141GB": 141, "H200-NVL-141GB": 141, "GH200-96GB": 96, "GH200-144GB": 144, "B200": 180,
    "GB200": 186, "B300": 288, "MI210": 64, "MI250X": 64, "MI300X": 192, "MI325X": 256,
    "RTX-PRO-6000": 96, "V100S-PCIE-32GB": 32, "MI355X": 288, "RTX-2080-Ti": 11, "TITAN-RTX": 24,
    "Quadro-RTX-8000": 48, "A2": 16, "RTX-A4500": 20, "GB10": 128,
}

# Every GPU issue 5 requires, by a spelling a user would type -> the entry it must reach.
REQUIRED = {
    "T4": "T4", "V100 16GB": "V100-SXM2-16GB", "V100-32GB": "V100-SXM2-32GB", "A10": "A10", "A10G": "A10G",
    "A16": "A16", "A30": "A30", "A40": "A40", "A100-40GB": "A100-SXM-40GB", "A100 PCIe 40GB": "A100-PCIE-40GB",
    "A100-80GB": "A100-SXM-80GB", "A100 80GB PCIe": "A100-PCIE-80GB", "A800": "A800-SXM-80GB", "L4": "L4",
    "L20": "L20", "L40": "L40", "L40S": "L40S", "RTX A4000": "RTX-A4000", "RTX A5000": "RTX-A5000",
    "RTX A6000": "RTX-A6000", "RTX 6000 Ada": "RTX-6000-Ada", "RTX 3060": "RTX-3060", "RTX 3070": "RTX-3070",
    "RTX 3080": "RTX-3080", "RTX 3090": "RTX-3090", "RTX 4060 Ti": "RTX-4060-Ti-16GB", "RTX 4070": "RTX-4070",
    "RTX 4080": "RTX-4080", "RTX 4090": "RTX-4090", "RTX 5070 Ti": "RTX-5070-Ti", "RTX 5080": "RTX-5080",
    "RTX 5090": "RTX-5090", "H20": "H20", "H100 PCIe": "H100-PCIE-80GB", "H100 SXM": "H100-SXM-80GB",
    "H100 NVL": "H100-NVL-94GB", "H800": "H800-SXM-80GB", "H200": "H200-SXM-141GB", "H200 NVL": "H200-NVL-141GB",
    "GH200": "GH200-96GB", "B200": "B200", "GB200": "GB200", "B300": "B300", "MI210": "MI210",
    "MI250X": "MI250X", "MI300X": "MI300X", "MI325X": "MI325X",
}


def test_catalog_holds_exactly_the_expected_entries_sorted():
    names = [g.name for g in catalog()]
    assert sorted(names, key=str.lower) == names
    assert set(names) == set(NOMINAL_GB)
    assert catalog() == catalog()


@pytest.mark.parametrize("spelling,expected", sorted(REQUIRED.items()))
def test_required_gpus_resolve(spelling, expected):
    assert lookup_gpu(spelling).name == expected


@pytest.mark.parametrize("gpu", catalog(), ids=lambda g: g.name)
def test_every_spelling_resolves_to_its_own_entry(gpu):
    # A spelling owned by two entries would send one of them elsewhere, so this also proves uniqueness.
    for spelling in (gpu.name, *gpu.aliases, *gpu.nvidia_smi_names):
        for variant in (spelling, spelling.lower(), spelling.upper(), spelling.replace(" ", "-"),
                        spelling.replace("-", " "), spelling.replace("-", "_"), f"  {spelling} "):
            assert lookup_gpu(variant).name == gpu.name, variant


@pytest.mark.parametrize("spelling,expected", [
    ("H100", "H100-SXM-80GB"), ("h100-80gb", "H100-SXM-80GB"), ("NVIDIA H100 80GB HBM3", "H100-SXM-80GB"),
    ("NVIDIA A100-SXM4-80GB", "A100-SXM-80GB"), ("Tesla T4", "T4"), ("NVIDIA GeForce RTX 4090", "RTX-4090"),
    ("GeForce RTX 4090", "RTX-4090"), ("4090", "RTX-4090"), ("NVIDIA L4", "L4"), ("a10g", "A10G"),
    ("AMD Instinct MI300X", "MI300X"), ("NVIDIA RTX 6000 Ada Generation", "RTX-6000-Ada"),
    # the `gpu` names of the calibration start-ups
    ("RTX 3090", "RTX-3090"), ("A100-80GB", "A100-SXM-80GB"), ("H100-80GB", "H100-SXM-80GB"),
    ("RTX A6000", "RTX-A6000"), ("A10", "A10"), ("T4", "T4"), ("L40S", "L40S"),
])
def test_pasted_and_short_names(spelling, expected):
    assert lookup_gpu(spelling).name == expected


@pytest.mark.parametrize("gpu", catalog(), ids=lambda g: g.name)
def test_memory_is_the_driver_total_below_marketing_size(gpu):
    nominal = NOMINAL_GB[gpu.name] * GIB
    assert 0.9 * nominal < gpu.memory_bytes < nominal
    assert memory_note(gpu.name).split(":")[0] in ("measured", "derived")


@pytest.mark.parametrize("name,low,high", [
    # Readings in the reference doc (§6) and the calibration start-ups, in GiB.
    ("H100-SXM-80GB", 79.11, 79.19), ("A100-SXM-80GB", 79.15, 79.22), ("L4", 22.04, 22.04),
    ("L40S", 44.39, 44.39), ("T4", 14.74, 14.74), ("RTX-3090", 23.58, 23.58), ("H200-SXM-141GB", 139.81, 139.81),
    ("B200", 178.36, 178.36), ("A10G", 21.95, 22.05), ("RTX-4090", 23.45, 23.6),
    ("GB10", 119.61, 119.61),   # DGX Spark: unified memory, vLLM's total on a start-up (calibration)
])
def test_memory_matches_real_readings(name, low, high):
    gib = lookup_gpu(name).memory_bytes / GIB
    assert low - 0.005 <= gib <= high + 0.005
    assert memory_note(name).startswith("measured")


@pytest.mark.parametrize("gpu", catalog(), ids=lambda g: g.name)
def test_dtype_support_follows_compute_capability(gpu):
    if gpu.vendor == "nvidia":
        assert gpu.bf16 == (gpu.compute_capability >= (8, 0))
        assert gpu.fp8 == (gpu.compute_capability >= (8, 9))
        assert gpu.interconnect in ("nvlink", "pcie")
    else:
        assert gpu.name.startswith("MI") and gpu.interconnect == "infinity-fabric"
    assert gpu.bandwidth_gbps > 0


@pytest.mark.parametrize("name,cc,bf16,fp8", [
    ("T4", (7, 5), False, False), ("V100-SXM2-16GB", (7, 0), False, False), ("A100-SXM-80GB", (8, 0), True, False),
    ("A10G", (8, 6), True, False), ("L4", (8, 9), True, True), ("RTX-4090", (8, 9), True, True),
    ("H100-SXM-80GB", (9, 0), True, True), ("B200", (10, 0), True, True), ("RTX-5090", (12, 0), True, True),
    ("MI300X", (9, 4), True, True), ("MI250X", (9, 0), True, False),
])
def test_known_capabilities(name, cc, bf16, fp8):
    gpu = lookup_gpu(name)
    assert (gpu.compute_capability, gpu.bf16, gpu.fp8) == (cc, bf16, fp8)


def test_vendor_marks_rocm_parts():
    assert {g.name for g in catalog() if g.vendor == "amd"} == {"MI210", "MI250X", "MI300X", "MI325X", "MI355X"}


@pytest.mark.parametrize("typo,near", [("H10", "H100-SXM-80GB"), ("RTX 4000", "RTX-A4000"), ("L40X", "L40S"),
                                       ("A100-90GB", "A100-SXM-80GB"), ("rtx 3099", "RTX-3090")])
def test_unknown_names_list_nearest(typo, near):
    with pytest.raises(UnknownGpuError) as info:
        lookup_gpu(typo)
    assert info.value.name == typo
    assert near in info.value.suggestions
    assert len(info.value.suggestions) <= 3


def test_unknown_name_far_from_everything():
    with pytest.raises(UnknownGpuError) as info:
        lookup_gpu("quantum-toaster")
    assert set(info.value.suggestions) <= {g.name for g in catalog()}
    assert "quantum-toaster" in str(info.value)
