"""The one secret detector: every spec string that can reach an artifact or a message is
checked here, and every diagnostic is passed through `redact` before it is printed.

Known token shapes (Hugging Face, GitHub, OpenAI-style, AWS access key ids, JWTs) are found
anywhere inside a string (`--chat-template=hf_…`, a JSON value). Beyond them, a long random-looking
run is a secret when it mixes upper case, lower case and digits with high entropy; hex strings
(commit ids, sha256 digests), UUIDs and model ids (words joined by '-', '_', '.', '/') are not.
"""
from __future__ import annotations

import math
import re
from collections import Counter

_B = r"(?<![A-Za-z0-9])"  # not glued to a longer word on the left
KNOWN = (
    (re.compile(_B + r"hf_[A-Za-z0-9]{20,}"), "a Hugging Face token"),
    (re.compile(_B + r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}"), "a GitHub token"),
    (re.compile(_B + r"github_pat_[A-Za-z0-9_]{20,}"), "a GitHub token"),
    (re.compile(_B + r"sk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_-]{16,}"), "an API key"),
    (re.compile(_B + r"(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])"), "an AWS access key id"),
    (re.compile(_B + r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), "a JSON Web Token"),
)
_RUN = re.compile(r"[A-Za-z0-9+/=_-]{24,}")
_SEGMENT = re.compile(r"[A-Za-z0-9]{20,}")
_HEX = re.compile(r"[0-9a-fA-F]+")


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _random_looking(segment: str) -> bool:
    if _HEX.fullmatch(segment):
        return False  # commit ids, digests
    classes = sum(bool(re.search(p, segment)) for p in ("[a-z]", "[A-Z]", "[0-9]"))
    if classes < 3:
        return False
    # Words run together (CamelCase names) repeat letters; random base62 hardly does.
    return _entropy(segment) >= min(4.0, math.log2(len(segment)) - 0.45)


def _spans(text: str) -> list[tuple[int, int, str]]:
    spans = [(m.start(), m.end(), what) for pattern, what in KNOWN for m in pattern.finditer(text)]
    for run in _RUN.finditer(text):
        for seg in _SEGMENT.finditer(run.group()):
            if _random_looking(seg.group()):
                spans.append((run.start() + seg.start(), run.start() + seg.end(), "a random-looking token"))
    return sorted(spans)


def find_secret(text: str) -> str | None:
    """What kind of secret `text` holds (e.g. "a Hugging Face token"), or None."""
    spans = _spans(text)
    return spans[0][2] if spans else None


def redact(text: str) -> str:
    """`text` with every secret replaced by its first characters and `…(redacted)`."""
    spans = _spans(text)
    if not spans:
        return text
    out, last = [], 0
    for start, end, _ in spans:
        if start < last:
            last = max(last, end)
            continue
        out.append(text[last:start] + text[start:start + 3] + "…(redacted)")
        last = end
    out.append(text[last:])
    return "".join(out)
