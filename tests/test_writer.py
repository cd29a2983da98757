"""vllm_compile.writer stages each changed file under a new name beside its target (created
exclusively, as tempfile.mkstemp would) and renames it into place."""
from __future__ import annotations

import os

import pytest

from vllm_compile import writer
from vllm_compile.writer import Target, WriteError, write_set


def test_a_set_is_written_with_its_modes_and_leaves_no_staging_file(tmp_path):
    script, data = tmp_path / "out" / "run.sh", tmp_path / "out" / "compose.yaml"
    changes = write_set([Target(str(script), b"#!/bin/sh\n", executable=True), Target(str(data), b"a: 1\n")])
    assert changes == [(str(script), True), (str(data), True)]
    assert script.read_bytes() == b"#!/bin/sh\n" and data.read_bytes() == b"a: 1\n"
    assert script.stat().st_mode & 0o777 == 0o755 and data.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["compose.yaml", "run.sh"]
    assert write_set([Target(str(data), b"a: 1\n")]) == [(str(data), False)]


def test_a_taken_staging_name_is_never_reused(tmp_path, monkeypatch):
    # The first name drawn is taken (by another writer, or a link planted there): the next is used,
    # and what held the taken name is left as it was.
    taken = tmp_path / f".vllm-compile-{'00' * 6}"
    taken.write_bytes(b"someone else's")
    draws = iter([b"\0" * 6, b"\1" * 6])
    monkeypatch.setattr(writer.os, "urandom", lambda n: next(draws))
    target = tmp_path / "compose.yaml"
    assert write_set([Target(str(target), b"a: 1\n")]) == [(str(target), True)]
    assert target.read_bytes() == b"a: 1\n" and taken.read_bytes() == b"someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == [taken.name, "compose.yaml"]


def test_a_staging_name_that_is_a_dangling_link_is_not_followed(tmp_path, monkeypatch):
    planted = tmp_path / f".vllm-compile-{'00' * 6}"
    planted.symlink_to(tmp_path / "elsewhere")
    draws = iter([b"\0" * 6, b"\1" * 6])
    monkeypatch.setattr(writer.os, "urandom", lambda n: next(draws))
    write_set([Target(str(tmp_path / "compose.yaml"), b"a: 1\n")])
    assert not (tmp_path / "elsewhere").exists()


def test_a_staging_file_that_cannot_be_created_is_a_write_error(tmp_path, monkeypatch):
    real_open = os.open

    def refuse(path, flags, mode=0o777, **kw):
        if os.path.basename(path).startswith(".vllm-compile-"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(writer.os, "open", refuse)
    target = tmp_path / "compose.yaml"
    target.write_bytes(b"old\n")
    with pytest.raises(WriteError, match="cannot write [(]Permission denied[)]"):
        write_set([Target(str(target), b"a: 1\n")])
    assert target.read_bytes() == b"old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["compose.yaml"]
