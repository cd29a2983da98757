"""Wall time of `vllm-compile --version` and of compiling specs/llama.yaml (median of cold runs).

Each run is a fresh process (what a pre-commit hook pays). Targets: <= 150 ms and <= 300 ms on
a 2-core machine. Run: python bench/speed.py [runs]
"""
from __future__ import annotations

import os
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


def timed(args: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True, cwd=ROOT,
                       env=ENV)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    import compileall

    compileall.compile_dir(str(ROOT / "vllm_compile"), quiet=1)
    with tempfile.TemporaryDirectory() as out:
        version = timed([EXE, "--version"], runs)
        compile_ = timed([EXE, "compile", "specs/llama.yaml", "-o", out], runs)
    print(f"vllm-compile --version            median {version:6.0f} ms over {runs} runs (target <= 150 ms)")
    print(f"vllm-compile compile llama.yaml   median {compile_:6.0f} ms over {runs} runs (target <= 300 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
