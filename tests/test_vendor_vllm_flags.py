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
    out = tmp_path / "history.jsonl"
    assert tool.main([str(source), "--out", str(out)]) == 0
    history = tool.read(out)
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
    assert tool.main([str(source), "--out", str(tmp_path / "h.jsonl")]) == 1
    assert "round trip FAILED" in capsys.readouterr().err


def test_the_package_reads_every_release_as_the_tool_does():
    """flags.py's lazy reader and the tool's `read` + `rebuild` agree on every vendored release,
    and a manifest decodes a flag's facts only when it is looked up."""
    history = _tool().read(ROOT / "vllm_compile" / "data" / "vllm-flags" / "history.jsonl")
    assert list(flags.versions()) == history["releases"]
    tool = _tool()
    for release in history["releases"]:
        expected = tool.rebuild(history, release)
        assert flags.release_manifest(release) == expected
        manifest = flags.load_manifest(release)
        assert list(manifest.flags) == list(expected["flags"]) and dict(manifest.flags) == expected["flags"]
        assert dict(manifest.positionals) == expected.get("positionals", {})
        assert manifest.value_tables == {k: tuple(v) for k, v in expected.get("value_tables", {}).items()}


def test_a_compile_decodes_only_the_flags_it_uses():
    flags._value.cache_clear()
    flags._section.cache_clear()
    manifest = flags.load_manifest("0.11.0")
    assert "--max-model-len" in manifest.flags and len(manifest.flags) > 100
    assert flags._value.cache_info().currsize == 0  # names and membership need no facts
    assert manifest.flags["--max-model-len"]["dest"] == "max_model_len"
    assert flags._value.cache_info().currsize == 1


def test_flag_history_names_where_a_flag_lived():
    # The ranges the tool reads back for --speculative-model: its last release and the one after.
    history = _tool().read(ROOT / "vllm_compile" / "data" / "vllm-flags" / "history.jsonl")
    releases = history["releases"]
    last = max(releases.index(last) for v in history["sections"]["flags"]["--speculative-model"] for _, last in v["in"])
    assert flags.flag_history("--speculative-model", "0.10.0") == (
        f"--speculative-model was removed: present up to vLLM {releases[last]}, absent from {releases[last + 1]} on")
    assert flags.flag_history("--no-such-flag-anywhere", "0.10.0") is None
