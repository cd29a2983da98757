"""`hardware:` of a spec -> HardwareFacts (declared, locked or detected GPUs)."""
from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

from vllm_compile.diagnostics import CompileError, SourceMap
from vllm_compile.ir.facts import HardwareFacts, HostGpu
from vllm_compile.resolve.hardware.catalog import UnknownGpuError, lookup_gpu

if TYPE_CHECKING:
    from vllm_compile.ir.spec import HardwareSpec

GIB = 1 << 30
_UUID = r"^(GPU|MIG)-[0-9a-z-]+$"   # compiled (by re's cache) only when device_ids are given
_DECLARE = ("declare the GPU instead, e.g. `hardware: {gpu: H100, count: 8}` (names: `vllm-compile gpus`), "
            "or run `vllm-compile lock` on the GPU host and commit the lock file")


def resolve_hardware(hw: HardwareSpec, *, source: SourceMap, key_prefix: str = "",
                     lock_hardware: dict | None = None, nvml=None) -> HardwareFacts:
    """The GPUs given to the deployment(s): a catalog GPU × count, or (gpu: auto) the locked or
    detected host, narrowed by device_ids/count; memory_gib overrides every GPU's total."""
    key = key_prefix + "hardware"
    count_given = "count" in hw.model_fields_set
    if hw.gpu.strip().lower() == "auto":
        host = _auto_host(source, key, lock_hardware, nvml)
        host = replace(host, gpus=_pick(host.gpus, hw, count_given, source, key))
    else:
        try:
            gpu = lookup_gpu(hw.gpu)
        except UnknownGpuError as err:
            fix = (f"did you mean {' or '.join(repr(s) for s in err.suggestions)}? " if err.suggestions else "")
            raise CompileError([source.error(
                key + ".gpu", "unknown GPU", found=repr(hw.gpu),
                expected="a catalog name, alias or nvidia-smi name, or 'auto'",
                fix=fix + "`vllm-compile gpus` lists the catalog; for a card it lacks, name the nearest one "
                    "and set hardware.memory_gib", code="VC310")]) from None
        host = HardwareFacts(gpus=_declared(gpu, hw, count_given, source, key))
    if hw.memory_gib is not None:
        memory = round(hw.memory_gib * GIB)
        host = replace(host, gpus=tuple(replace(h, gpu=replace(h.gpu, memory_bytes=memory)) for h in host.gpus))
    return host


def _auto_host(source: SourceMap, key: str, lock_hardware: dict | None, nvml) -> HardwareFacts:
    # Imported here: a spec that names its GPU needs neither the lock's section nor NVML.
    from vllm_compile.resolve.hardware.detect import detect
    from vllm_compile.resolve.hardware.lock import hardware_from_lock
    from vllm_compile.resolve.hardware.nvml import NoGpuError

    if lock_hardware is not None:
        try:
            return hardware_from_lock(lock_hardware)
        except ValueError as exc:
            raise CompileError([source.error(
                key + ".gpu", f"the lock file's hardware section is unusable: {exc}",
                fix="re-run `vllm-compile lock` on the GPU host, or " + _DECLARE, code="VC311")]) from None
    try:
        return detect(nvml)
    except NoGpuError as exc:
        raise CompileError([source.error(
            key + ".gpu", f"`gpu: auto` needs NVML, but {exc}", found="'auto'",
            expected="a GPU name when this machine has no NVIDIA driver", fix=_DECLARE, code="VC312")]) from None


def _ids(hw: HardwareSpec, count_given: bool, source: SourceMap, key: str) -> tuple[str, ...] | None:
    ids = hw.device_ids
    if ids is None:
        return None
    errors = []
    for i, dev in enumerate(ids):
        if not (dev.isdigit() or re.match(_UUID, dev, re.IGNORECASE)):
            errors.append(source.error(f"{key}.device_ids[{i}]", "not a GPU index or UUID", found=repr(dev),
                                       expected="an index like '0' or a UUID like 'GPU-5e1f…'",
                                       fix="copy the index or UUID from `nvidia-smi -L` or `vllm-compile detect`", code="VC313"))
    seen = [d.lower() for d in ids]
    for i, dev in enumerate(seen):
        if dev in seen[:i]:
            errors.append(source.error(f"{key}.device_ids[{i}]", "GPU listed twice", found=repr(ids[i]),
                                       fix="list each GPU once", code="VC314"))
    if count_given and hw.count != len(ids):
        errors.append(source.error(f"{key}.count", "count disagrees with device_ids",
                                   found=f"count {hw.count}, {len(ids)} device_ids",
                                   expected=f"count {len(ids)}", fix="drop count; device_ids decide it", code="VC315"))
    if errors:
        raise CompileError(errors)
    return ids


def _declared(gpu, hw: HardwareSpec, count_given: bool, source: SourceMap, key: str) -> tuple[HostGpu, ...]:
    ids = _ids(hw, count_given, source, key)
    if ids is None:
        return tuple(HostGpu(index=i, gpu=gpu) for i in range(hw.count))
    # Without detection a UUID says nothing about the index: number those GPUs by position.
    return tuple(HostGpu(index=int(d), gpu=gpu) if d.isdigit() else HostGpu(index=i, gpu=gpu, uuid=d)
                 for i, d in enumerate(ids))


def _pick(gpus: tuple[HostGpu, ...], hw: HardwareSpec, count_given: bool, source: SourceMap,
          key: str) -> tuple[HostGpu, ...]:
    ids = _ids(hw, count_given, source, key)
    listing = "; ".join(f"{h.index}: {h.gpu.name}" + (f" ({h.uuid})" if h.uuid else "") for h in gpus)
    if ids is not None:
        picked, errors = [], []
        for i, dev in enumerate(ids):
            match = next((h for h in gpus if (dev.isdigit() and h.index == int(dev))
                          or (h.uuid and h.uuid.lower() == dev.lower())), None)
            if match is None:
                errors.append(source.error(f"{key}.device_ids[{i}]", "no such GPU on this host", found=repr(dev),
                                           expected=f"one of: {listing}",
                                           fix="use an index or UUID from `vllm-compile detect`", code="VC316"))
            else:
                picked.append(match)
        if errors:
            raise CompileError(errors)
        return tuple(picked)
    if not count_given:
        return gpus
    if hw.count > len(gpus):
        raise CompileError([source.error(f"{key}.count", "more GPUs requested than the host has",
                                         found=str(hw.count), expected=f"at most {len(gpus)} ({listing})",
                                         fix=f"set hardware.count to {len(gpus)} or less", code="VC317")])
    return gpus[:hw.count]
