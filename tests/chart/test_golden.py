"""Golden snapshots of the key templates: a diff shows what a change does to installs.

Regenerate after an intended change and review the diff:

    GPUFLEET_UPDATE_GOLDEN=1 .venv/bin/pytest tests/chart/test_golden.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .render import VALUE_SETS, render

GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE = os.environ.get("GPUFLEET_UPDATE_GOLDEN") == "1"
TEMPLATES = (
    "deployment.yaml",
    "rbac.yaml",
    "configmap-prices.yaml",
    "service.yaml",
    "servicemonitor.yaml",
    "podmonitor.yaml",
    "prometheusrule.yaml",
    "networkpolicy.yaml",
)
CASES = [
    (value_set, template)
    for value_set in ("defaults", "namespaced-everything", "cluster-everything")
    for template in TEMPLATES
]


@pytest.mark.parametrize(("value_set", "template"), CASES)
def test_template_matches_golden(chart_dir: Path, value_set: str, template: str) -> None:
    manifests = render(chart_dir, VALUE_SETS[value_set]).manifests
    actual = manifests.get(f"gpufleet/templates/{template}", "").strip() + "\n"
    golden = GOLDEN_DIR / value_set / template
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual)
    assert golden.exists(), f"{golden} missing: run with GPUFLEET_UPDATE_GOLDEN=1"
    assert actual == golden.read_text(), (
        f"{template} ({value_set}) differs from {golden}; if intended, regenerate with "
        "GPUFLEET_UPDATE_GOLDEN=1 and review the diff"
    )
