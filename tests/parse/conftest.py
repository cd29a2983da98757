import os
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

# Plain helper module next to these tests (parse_support).
_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
