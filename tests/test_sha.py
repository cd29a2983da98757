"""vllm_compile.sha gives hashlib's SHA-256 digests without loading OpenSSL (issue 16)."""
from __future__ import annotations

import hashlib

import pytest

from vllm_compile import sha


@pytest.mark.parametrize("data", [b"", b"abc", bytes(range(256)) * 300, "llama-chat:é".encode()])
def test_same_digests_as_hashlib(data):
    assert sha.hexdigest(data) == hashlib.sha256(data).hexdigest()
    running = sha.sha256()
    for start in range(0, len(data), 97):
        running.update(data[start:start + 97])
    assert running.hexdigest() == hashlib.sha256(data).hexdigest()
