"""The chart installs exactly the CRD generated into the repository's crds/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from .render import CHART_CRD, CHART_DIR, REPO_CRD, render


def _rendered_crd(chart_dir: Path) -> dict[str, Any]:
    crd: dict[str, Any] = render(chart_dir).one("CustomResourceDefinition")
    return crd


def test_crd_is_kept_on_uninstall_and_upgraded_with_the_release(chart_dir: Path) -> None:
    crd = _rendered_crd(chart_dir)
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    # Argo CD does not run Helm: without these it prunes the CRD (and with it every
    # ModelDeployment) when crds.install turns false, or deletes it with the Application.
    options = crd["metadata"]["annotations"]["argocd.argoproj.io/sync-options"].split(",")
    assert {"Prune=false", "Delete=false"} <= {o.strip() for o in options}
    # Shipped from templates/, never crds/ (which Helm would not upgrade).
    assert not (CHART_DIR / "crds").exists()


def test_crd_can_be_left_out(chart_dir: Path) -> None:
    assert "CustomResourceDefinition" not in render(chart_dir, {"crds": {"install": False}}).kinds


def test_rendered_crd_equals_the_generated_one() -> None:
    if not REPO_CRD.exists():
        pytest.skip(f"{REPO_CRD} is not generated yet; nothing to compare the chart with")
    assert CHART_CRD.exists(), "the chart has no CRD copy: run charts/gpufleet/ci/sync-crds.sh"
    expected = yaml.safe_load(REPO_CRD.read_text())
    actual = _rendered_crd(CHART_DIR)
    # The chart adds its own labels and the keep annotation; everything else is verbatim.
    for key in ("labels", "annotations"):
        added = actual["metadata"].pop(key, {})
        original = expected["metadata"].pop(key, {}) or {}
        assert original.items() <= added.items()
    assert actual == expected, "chart CRD is stale: run charts/gpufleet/ci/sync-crds.sh"
