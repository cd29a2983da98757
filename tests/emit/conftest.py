import sys
from pathlib import Path

import pytest

# Plain helper modules: tests/validators.py, tests/lower/lower_builders.py, emit_cases.py.
TESTS = Path(__file__).parents[1]
for folder in (TESTS, TESTS / "lower", TESTS / "emit"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from emit_cases import CASES  # noqa: E402


@pytest.fixture(params=sorted(CASES))
def case(request):
    return request.param, CASES[request.param]
