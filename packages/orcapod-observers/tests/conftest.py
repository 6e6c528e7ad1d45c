"""Makes the shared record-writing helper importable as ``observability_records``.

pytest runs with ``--import-mode=importlib``, so this folder is not importable;
the helper is loaded by path once, before any test module imports it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_NAME = "observability_records"

if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(
        _NAME, Path(__file__).with_name("_observability_records.py")
    )
    assert _spec is not None
    assert _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[_NAME] = _module
    _spec.loader.exec_module(_module)
