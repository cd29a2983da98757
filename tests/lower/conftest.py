import sys
from pathlib import Path

# Plain helper modules next to the tests (lower_builders) and one level up (validators).
for folder in (Path(__file__).parent, Path(__file__).parents[1]):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
