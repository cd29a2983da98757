"""The pieces of `check`'s fast path (vllm_compile/freshness.py) that must agree with the compiler."""
from __future__ import annotations

import posixpath
import shutil
from pathlib import Path

from vllm_compile import data_digest, freshness


def test_data_digest_is_current():
    assert data_digest.compute() == data_digest.DATA_DIGEST, (
        "the bundled data changed: run `make data-digest` and commit vllm_compile/data_digest.py")


def test_data_digest_covers_every_data_file(tmp_path):
    bundled, copy = Path(data_digest.__file__).parent / "data", tmp_path / "data"
    shutil.copytree(bundled, copy)
    assert data_digest.compute(copy) == data_digest.DATA_DIGEST
    gpus = copy / "gpus.json"
    gpus.write_text(gpus.read_text() + " ")  # one byte more in the GPU catalog
    assert data_digest.compute(copy) != data_digest.DATA_DIGEST
    shutil.copy(bundled / "gpus.json", gpus)
    (copy / "vllm-flags" / "99.0.0.json").write_text("{}")  # a new release's manifest
    assert data_digest.compute(copy) != data_digest.DATA_DIGEST


def test_layout_is_the_emit_targets():
    from vllm_compile.emit.registry import TARGETS

    assert sorted(freshness.LAYOUT) == sorted(TARGETS)
    for name, target in TARGETS.items():
        filenames, scope, executable = freshness.LAYOUT[name]
        assert (scope, executable) == (target.SCOPE, target.KIND == "shell")
        # A target writing one file names it; one writing several (ray) lists its first as FILENAME.
        assert filenames[0].format(node=0) == target.FILENAME
        assert hasattr(target, "files") == (len(filenames) > 1 or "{node}" in filenames[0])


def test_default_formats_are_the_spec_models():
    from vllm_compile.ir.spec import OutputSpec

    assert freshness.DEFAULT_FORMATS == OutputSpec().formats


def test_seal_round_trip_and_tamper():
    content = b"#!/usr/bin/env bash\n" + freshness.PLACEHOLDER + b"\nexec docker run x\n"
    sealed = freshness.seal(content, "r" * 64)
    assert freshness.PLACEHOLDER not in sealed and len(sealed) == len(content)
    assert freshness.seal_matches(sealed, "r" * 64)
    assert not freshness.seal_matches(sealed, "s" * 64)                       # other inputs
    assert not freshness.seal_matches(sealed.replace(b"x\n", b"y\n"), "r" * 64)  # an edited body
    assert not freshness.seal_matches(content, "r" * 64)                      # never sealed
    assert not freshness.seal_matches(b"no header\n", "r" * 64)


def test_placement_is_machine_independent_outside_the_spec_tree():
    # -o DIR outside the spec's tree: the header names the spec by its file name only.
    outside = [freshness.placement(freshness.spec_reference("a.yaml", posixpath.dirname(path)), path, host)
               for path, host in (("../../tmp/x/a/docker-run.sh", "../../tmp/x"),
                                  ("../../../var/y/a/docker-run.sh", "../../../var/y"))]
    assert outside[0] == outside[1] == "a.yaml|a/docker-run.sh"
    inside = freshness.placement(freshness.spec_reference("a.yaml", "deploy/a"), "deploy/a/compose.yaml", "deploy/a")
    assert inside == "../../a.yaml (relative to this file)|compose.yaml"


def test_spec_reference_is_the_headers():
    from vllm_compile.emit.header import spec_reference

    assert spec_reference is freshness.spec_reference
