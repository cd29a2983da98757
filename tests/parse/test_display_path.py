"""parse.display_path names a spec exactly as pathlib.Path(path).as_posix() did."""
from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from vllm_compile.parse import display_path

EDGES = ["", ".", "..", "/", "//", "///", "a", "a/", "./a", "a//b", "a/./b", "a/../b", "//a/b", "///a", "/./a/",
         "specs/llama.yaml", "./specs//llama.yaml", "../x.yaml", " a/b ", "a/.b", "a/..b/."]


def test_edges():
    assert [display_path(p) for p in EDGES] == [Path(p).as_posix() for p in EDGES]


@settings(derandomize=True, max_examples=300)
@given(st.lists(st.sampled_from(["/", ".", "..", "a", "b.yaml", " ", "é"]), max_size=8).map("".join))
def test_same_as_pathlib(path):
    assert display_path(path) == Path(path).as_posix()
