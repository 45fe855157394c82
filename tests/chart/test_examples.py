"""The GitOps examples install the chart and models that the operator will serve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet.domain.pricing import DEFAULT_GPU_PRICES, check_budget, gpu_hourly_price
from gpufleet.domain.spec import parse_spec

from .render import REPO_ROOT, render

EXAMPLES = REPO_ROOT / "examples" / "gitops"
HEALTH_KEY = "resource.customizations.health.gpufleet.io_ModelDeployment"


def _docs() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, doc)
        for path in sorted(EXAMPLES.rglob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def _of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in _docs() if doc.get("kind") == kind]


def _model_namespaces() -> set[str]:
    return {md["metadata"]["namespace"] for md in _of_kind("ModelDeployment")}


def test_modeldeployments_are_valid_and_affordable() -> None:
    models = _of_kind("ModelDeployment")
    assert models
    for md in models:
        spec = parse_spec(md["spec"])
        check_budget(spec, gpu_hourly_price(spec, DEFAULT_GPU_PRICES))


def _chart_values() -> list[tuple[str, dict[str, Any]]]:
    argo = [
        (app["metadata"]["name"], app["spec"]["source"]["helm"]["valuesObject"])
        for app in _of_kind("Application")
        if app["spec"]["source"].get("chart") == "gpufleet"
    ]
    flux = [(hr["metadata"]["name"], hr["spec"]["values"]) for hr in _of_kind("HelmRelease")]
    assert argo
    assert flux
    return argo + flux


@pytest.mark.parametrize(("name", "values"), _chart_values(), ids=lambda v: str(v)[:20])
def test_chart_values_install_an_operator_that_serves_the_models(
    chart_dir: Path, name: str, values: dict[str, Any]
) -> None:
    rendered = render(chart_dir, values)  # raises on a value the schema rejects
    allowed = {role["metadata"]["namespace"] for role in rendered.of_kind("Role")}
    assert _model_namespaces() <= allowed, f"{name}: models outside the watched namespaces"


def test_argocd_health_patch_is_the_shipped_lua() -> None:
    (patch,) = [cm for cm in _of_kind("ConfigMap") if cm["metadata"]["name"] == "argocd-cm"]
    lua = (REPO_ROOT / "gitops" / "argocd" / "health.lua").read_text()
    assert patch["data"][HEALTH_KEY] == lua, (
        "examples/gitops/argocd/argocd-cm-health.yaml is stale: paste gitops/argocd/health.lua"
    )


def test_gitops_paths_point_at_folders_in_this_repository() -> None:
    paths = [app["spec"]["source"]["path"] for app in _of_kind("Application")
             if "path" in app["spec"]["source"]]  # fmt: skip
    paths += [ks["spec"]["path"] for ks in _of_kind("Kustomization") if "spec" in ks]
    assert paths
    for path in paths:
        folder = REPO_ROOT / path
        assert (folder / "kustomization.yaml").is_file(), f"{path} has no kustomization.yaml"
        listed = yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"]
        for resource in listed:
            assert (folder / resource).is_file(), f"{path}/{resource} missing"


def test_flux_waits_for_the_operator_before_the_models() -> None:
    kustomizations = {
        ks["metadata"]["name"]: ks["spec"] for ks in _of_kind("Kustomization") if "spec" in ks
    }
    models = kustomizations["models"]
    assert models["wait"] is True  # kstatus health: observedGeneration + Ready
    assert {"name": "gpufleet-operator"} in models["dependsOn"]
