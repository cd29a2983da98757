"""tools/vendor_vllm_flags.py: the flag history it writes loses nothing (round trip on repo data)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from vllm_compile import flags

ROOT = Path(__file__).resolve().parent.parent


def _tool():
    spec = importlib.util.spec_from_file_location("vendor_vllm_flags", ROOT / "tools" / "vendor_vllm_flags.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_vendor_script_round_trips_releases(tmp_path):
    tool = _tool()
    source = tmp_path / "src"
    source.mkdir()
    chosen = ["0.7.3", "0.8.4", "0.8.5.post1", "0.10.1.1", "0.33.0"]
    for release in chosen:
        (source / f"{release}.json").write_text(json.dumps(flags.release_manifest(release)))
    out = tmp_path / "history.json"
    assert tool.main([str(source), "--out", str(out)]) == 0
    history = json.loads(out.read_text())
    assert history["releases"] == chosen
    for release in chosen:
        assert tool.rebuild(history, release) == flags.release_manifest(release)
    # A flag present in 0.8.4 and 0.8.5.post1 with one value is stored once with one range.
    [variant] = history["sections"]["flags"]["--speculative-config"][:1]
    assert variant["in"][0][0] == "0.8.4"


def test_vendor_script_refuses_a_lossy_history(tmp_path, monkeypatch, capsys):
    tool = _tool()
    source = tmp_path / "src"
    source.mkdir()
    for release in ("0.8.4", "0.8.5"):
        (source / f"{release}.json").write_text(json.dumps(flags.release_manifest(release)))
    # A broken rebuild (one that drops the value tables) must be caught by the script's own check.
    real = tool.rebuild
    monkeypatch.setattr(tool, "rebuild", lambda h, r: {k: v for k, v in real(h, r).items() if k != "value_tables"})
    assert tool.main([str(source), "--out", str(tmp_path / "h.json")]) == 1
    assert "round trip FAILED" in capsys.readouterr().err
