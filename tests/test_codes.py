"""The table of diagnostic codes (vllm_compile/codes.py): complete, used, and the README's table."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from vllm_compile.codes import CODES, RESERVED, STAGES, all_codes, markdown_table, readme_with_table

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "vllm_compile"
# Every construction of something that is printed as a diagnostic.
BUILDERS = {"Diagnostic", "error", "warning", "Problem", "Drift", "_bad"}


def _sources():
    return [p for p in sorted(PACKAGE.rglob("*.py")) if p.name != "codes.py"]


def _used_codes() -> dict[str, list[str]]:
    used: dict[str, list[str]] = {}
    for path in _sources():
        for match in re.finditer(r"""["'](VC\d{3})["']""", path.read_text()):
            used.setdefault(match.group(1), []).append(str(path.relative_to(ROOT)))
    return used


def test_literal_and_table_hold_the_same_codes_in_order():
    assert list(all_codes()) == list(CODES)


def test_codes_are_grouped_by_stage_and_named_once():
    for code, info in CODES.items():
        assert re.fullmatch(r"VC[1-9]\d\d", code) and info.code == code
        assert code[2] in STAGES
        assert info.name and info.meaning and info.fix
    assert len({i.name for i in CODES.values()}) == len(CODES)
    assert list(CODES) == sorted(CODES)


def test_every_code_used_is_in_the_table():
    unknown = {code: where for code, where in _used_codes().items() if code not in CODES}
    assert not unknown


def test_every_table_code_is_used_or_reserved():
    unused = set(CODES) - set(_used_codes()) - RESERVED
    assert not unused, f"codes in the table that no diagnostic uses (use them or mark them RESERVED): {unused}"


def test_every_diagnostic_built_in_the_package_names_its_code():
    missing = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
            if name in BUILDERS and not any(k.arg == "code" for k in node.keywords):
                if name in ("error", "warning") and not isinstance(func, ast.Attribute):
                    continue
                if name in ("error", "warning") and isinstance(func.value, ast.Name) and func.value.id in (
                        "click", "logging", "log", "ctx"):
                    continue
                missing.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}(...)")
    assert not missing, "diagnostics without a code= (add one from vllm_compile/codes.py):\n" + "\n".join(missing)


def test_readme_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text()
    assert readme_with_table(readme) == readme, "run: make codes"
    assert markdown_table() in readme


def test_the_table_lists_every_code_once():
    table = markdown_table()
    for code in CODES:
        assert table.count(f"`{code}`") == 1
