"""Compiler-style diagnostics shared by every stage.

A user error is never an exception with a traceback: stages raise `CompileError`
carrying one or more `Diagnostic`s, and the CLI prints them as
`file:line:col: error[VC203]: key: message` lines (or, with `--format json`, as JSON) and exits 2.
Every diagnostic carries a code of the table in `vllm_compile/codes.py`; `code` is required,
so a new call site without one fails mypy.
"""
from __future__ import annotations

from dataclasses import field
from vllm_compile.fastclass import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Literal, Mapping

if TYPE_CHECKING:  # annotations only: the code table stays unloaded unless printed
    from vllm_compile.codes import Code

Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    message: str
    file: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    key: str | None = None  # dotted key path in the spec, e.g. "hardware.gpu"
    found: str | None = None
    expected: str | None = None
    fix: str | None = None
    severity: Severity = "error"
    # Structured fixes (a planner failure's checked spec patches, as `Fix.as_json()` gives them).
    fixes: tuple[Mapping[str, Any], ...] = ()
    code: Code = field(kw_only=True)

    def format(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            where += ": "
        head = f"{where}{self.severity}[{self.code}]: "
        if self.key:
            head += f"{self.key}: "
        head += self.message
        details = []
        if self.found is not None:
            details.append(f"found {self.found}")
        if self.expected is not None:
            details.append(f"expected {self.expected}")
        if details:
            head += " (" + "; ".join(details) + ")"
        if self.fix:
            head += f"\n  fix: {self.fix}"
        from vllm_compile.secret_scan import redact

        return redact(head)  # a value echoed back never shows a secret

    def as_json(self) -> dict:
        """The fields a CI annotation needs (`--format json`); a value echoed back never shows a secret."""
        from vllm_compile.secret_scan import redact

        def shown(text: str | None) -> str | None:
            return None if text is None else redact(text)

        def shown_value(value: Any) -> Any:
            if isinstance(value, str):
                return redact(value)
            if isinstance(value, Mapping):
                return {k: shown_value(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [shown_value(v) for v in value]
            return value

        return {
            "path": self.file,
            "line": self.line,
            "column": self.column,
            "severity": self.severity,
            "code": self.code,
            "key": self.key,
            "message": shown(self.message),
            "found": shown(self.found),
            "expected": shown(self.expected),
            "fix": shown(self.fix),
            "fixes": [shown_value(f) for f in self.fixes],
        }


class CompileError(Exception):
    """One or more user errors; the CLI reports them all and exits 2."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = tuple(diagnostics)
        super().__init__("\n".join(d.format() for d in self.diagnostics))


@dataclass(frozen=True, slots=True)
class SourceMap:
    """Where each key of a spec file stands, so any stage can point at it.

    `positions` maps a key path ("engine.extra_args[1]") to a 1-based (line, column).
    """

    file: str
    positions: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    def locate(self, key: str | None) -> tuple[int | None, int | None]:
        probe = key or ""
        while probe:
            if probe in self.positions:
                return self.positions[probe]
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        return self.positions.get("", (None, None)) if self.positions else (None, None)

    def error(self, key: str | None, message: str, *, code: Code, found: str | None = None,
              expected: str | None = None, fix: str | None = None, fixes: tuple[Mapping[str, Any], ...] = (),
              severity: Severity = "error") -> Diagnostic:
        line, column = self.locate(key)
        return Diagnostic(message=message, file=self.file, line=line, column=column, key=key, found=found,
                          expected=expected, fix=fix, fixes=fixes, severity=severity, code=code)

    def warning(self, key: str | None, message: str, *, code: Code, found: str | None = None,
                expected: str | None = None, fix: str | None = None) -> Diagnostic:
        return self.error(key, message, code=code, found=found, expected=expected, fix=fix, severity="warning")


def did_you_mean(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    import difflib

    pool = list(candidates)
    lowered = {c.lower(): c for c in pool}
    hits = difflib.get_close_matches(word.lower(), list(lowered), n=n, cutoff=0.6)
    return [lowered[h] for h in hits]
