"""SHA-256 without OpenSSL: `hashlib` loads OpenSSL (`_hashlib`) when it is imported, which costs
a cold start more than all the hashing a compile does (issue 16). CPython's own SHA-256 module
(hashlib's fallback when OpenSSL lacks an algorithm) gives the same digests."""
from __future__ import annotations

try:  # CPython 3.11
    from _sha256 import sha256
except ImportError:  # pragma: no cover - CPython 3.12 on names it _sha2; other Pythons: hashlib
    try:
        from _sha2 import sha256
    except ImportError:
        from hashlib import sha256

__all__ = ["hexdigest", "sha256"]


def hexdigest(data: bytes) -> str:
    """The SHA-256 of `data`, as 64 hex digits."""
    return sha256(data).hexdigest()
