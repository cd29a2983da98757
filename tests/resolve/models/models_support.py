"""Paths and loaders shared by the model-facts tests."""
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
CATALOG = REPO / "vllm_compile" / "data" / "model-configs"
# Published sizes and the provenance (sources, digests) of the bundled configs: bench/data/README.md.
PUBLISHED = REPO / "bench" / "data" / "model-configs"


def load(model_id: str, root: Path = CATALOG) -> dict:
    return json.loads((root / model_id / "config.json").read_text())
