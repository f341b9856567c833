"""Benchmarks: cold start, artifact sizes, AWS cost per payment, load through the local stack."""

import sys
from pathlib import Path

# `python -m benchmarks` reuses the integration suite's stack helpers, which import the shared layer the way
# pytest's `pythonpath` setting makes importable: put the layer where they expect it.
_LAYER = str(Path(__file__).resolve().parent.parent / "layers" / "payments_core")
if _LAYER not in sys.path:
    sys.path.append(_LAYER)
