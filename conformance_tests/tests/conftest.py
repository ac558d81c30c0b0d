"""Make the helper modules next to the tests importable (the repo runs pytest in importlib mode)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
