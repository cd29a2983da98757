"""Whole-process cost of vllm-compile, as ratios to a bare `python -c pass` measured in the same run.

Issue 16's figures, each a fresh process (what a pre-commit hook pays):
  --version, --help            target <= 3 x bare Python
  compile specs/llama.yaml     target <= 8 x   (cold: a new process, the bytecode already cached)
  check of 100 unchanged specs target <= 40 x  (one process; the specs are generated into a temp
                               folder from the examples and compiled once before timing)
Runs are interleaved (one of each figure per round) so that load from other processes on the
machine falls on every figure alike; each figure is the median over the rounds. Both wall time and
CPU time (user + system of the child, from wait4) are shown: on a busy machine the CPU time is the
steadier of the two. Run: python bench/speed.py [rounds]   (rounds >= 7; default 9)
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXE = str(Path(sys.executable).with_name("vllm-compile"))
# Installed tools run from cached bytecode; a shell that disables writing it would time the
# compiler's own byte-compilation instead.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"HF_HUB_OFFLINE": "1"}
CHECK_SPECS = 100
# Example specs the generated ones are varied from: they compile wherever they are copied to
# (models from the bundled catalog or a lock file next to them, no local model folders).
SOURCES = [*sorted((ROOT / "specs").glob("*.yaml")), *sorted((ROOT / "tests" / "golden").glob("*/spec.yaml"))]


def run_once(args: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one child process; fails loudly if the child fails."""
    start = time.perf_counter()
    child = subprocess.Popen(args, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    err = child.stderr.read() if child.stderr else b""
    if child.stderr:
        child.stderr.close()
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(args[:3])} ... exited {child.returncode}:\n{err.decode(errors='replace')[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def make_specs(folder: Path, count: int) -> list[str]:
    """`count` varied specs (renamed, other ports, other concurrency), each in its own folder with
    its lock file when the example has one; returns their paths relative to `folder`."""
    from ruamel.yaml import YAML

    yaml = YAML()
    usable = []
    for source in SOURCES:
        data = yaml.load(source.read_text())
        if "deployments" in data:
            if any("path" in (d.get("model") or {}) for d in data["deployments"]):
                continue
        elif "path" in (data.get("model") or {}):
            continue
        usable.append((source, data))
    paths = []
    for index in range(count):
        source, template = usable[index % len(usable)]
        data = yaml.load(source.read_text())  # a fresh copy, comments kept
        target = folder / f"spec-{index:03d}"
        target.mkdir()
        deployments = data["deployments"] if "deployments" in data else [data]
        for offset, dep in enumerate(deployments):
            dep["name"] = f"{dep['name'][:50]}-{index:03d}"
            dep.setdefault("server", {})["port"] = 8000 + (index * 7 + offset) % 1000
            if "output" in dep and "dir" in dep["output"]:
                del dep["output"]["dir"]
        if "output" in data and "dir" in data["output"]:
            del data["output"]["dir"]
        name = f"{source.parent.name if source.name == 'spec.yaml' else source.stem}.yaml"
        with open(target / name, "w") as handle:
            yaml.dump(data, handle)
        lock = source.with_name(source.name + ".lock")
        if lock.exists():
            shutil.copy(lock, target / (name + ".lock"))
        paths.append(f"{target.name}/{name}")
    return paths


def main() -> int:
    rounds = max(7, int(sys.argv[1]) if len(sys.argv) > 1 else 9)
    import compileall

    compileall.compile_dir(str(ROOT / "vllm_compile"), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        out = work / "out"
        specs = make_specs(work, CHECK_SPECS)
        # Some variations may not compile (e.g. a renamed deployment too long for a label): keep
        # only those that do, and say how many were timed.
        good = specs
        if subprocess.run([EXE, "compile", *specs], cwd=work, env=ENV, capture_output=True).returncode != 0:
            good = [spec for spec in specs if subprocess.run(
                [EXE, "compile", spec], cwd=work, env=ENV, capture_output=True).returncode == 0]
        if len(good) < CHECK_SPECS:
            print(f"note: {CHECK_SPECS - len(good)} generated spec(s) did not compile; checking {len(good)}")
        figures = {
            "bare python -c pass": [sys.executable, "-c", "pass"],
            "vllm-compile --version": [EXE, "--version"],
            "vllm-compile --help": [EXE, "--help"],
            "compile specs/llama.yaml (cold)": [EXE, "compile", str(ROOT / "specs" / "llama.yaml"), "-o", str(out)],
            f"check of {len(good)} unchanged specs": [EXE, "check", *good],
        }
        targets = {"vllm-compile --version": 3, "vllm-compile --help": 3,
                   "compile specs/llama.yaml (cold)": 8, f"check of {len(good)} unchanged specs": 40}
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in figures}
        for args in figures.values():  # one warm-up each (page cache, bytecode)
            run_once(args, work)
        for _ in range(rounds):
            for name, args in figures.items():
                samples[name].append(run_once(args, work))
    wall = {name: statistics.median(s[0] for s in runs) * 1000 for name, runs in samples.items()}
    cpu = {name: statistics.median(s[1] for s in runs) * 1000 for name, runs in samples.items()}
    bare = "bare python -c pass"
    print(f"median of {rounds} interleaved cold runs; ratio = figure / bare python in this run")
    print(f"{'figure':38} {'wall ms':>8} {'ratio':>6} {'cpu ms':>8} {'ratio':>6}  target")
    for name in figures:
        ratio_wall, ratio_cpu = wall[name] / wall[bare], cpu[name] / cpu[bare]
        target = targets.get(name)
        verdict = "" if target is None else (
            f"<= {target} x: {'met' if max(ratio_wall, ratio_cpu) <= target else 'NOT met'}")
        print(f"{name:38} {wall[name]:8.0f} {ratio_wall:6.2f} {cpu[name]:8.0f} {ratio_cpu:6.2f}  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
