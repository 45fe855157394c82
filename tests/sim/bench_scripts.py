"""Load a benchmark script of benchmarks/sim/ as a module, as running it from its folder does."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

FOLDER = Path(__file__).resolve().parents[2] / "benchmarks" / "sim"


def load(script: str) -> ModuleType:
    """``benchmarks/sim/<script>.py`` as the module ``sim_<script>``."""
    name = f"sim_{script}"
    spec = importlib.util.spec_from_file_location(name, FOLDER / f"{script}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their module by name
    # The scripts import their siblings (suite.py, selection.py) from their folder.
    sys.path.insert(0, str(FOLDER))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(FOLDER))
    return module
