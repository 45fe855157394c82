"""The GitOps examples install the chart and models that the operator will serve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet.domain.pricing import DEFAULT_GPU_PRICES, check_budget, gpu_hourly_price
from gpufleet.domain.spec import parse_spec

from .render import REPO_ROOT, render
from .test_docs import KUBE_PROMETHEUS_STACK

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
    # The examples read kube-prometheus-stack's Prometheus (prometheus-operated.monitoring),
    # which ignores monitors and rules without its release label: no model pod scraped,
    # every fleet MetricsAvailable=False and never scaled, no alert loaded.
    assert rendered.of_kind("PodMonitor"), f"{name}: scrapes no model pod"
    for obj in (o for o in rendered.objects if o["apiVersion"].startswith("monitoring.")):
        labels = obj["metadata"]["labels"]
        assert KUBE_PROMETHEUS_STACK.items() <= labels.items(), (
            f"{name}: {obj['kind']} {obj['metadata']['name']} is ignored by "
            f"kube-prometheus-stack's Prometheus (labels {labels})"
        )


def _watched(values: dict[str, Any]) -> set[str]:
    return set(values.get("watch", {}).get("namespaces") or ())


def _sync_wave(obj: dict[str, Any]) -> int:
    annotations = obj["metadata"].get("annotations") or {}
    return int(annotations.get("argocd.argoproj.io/sync-wave", "0"))


def test_argocd_creates_the_watched_namespaces_before_the_operator() -> None:
    """The chart puts a Role in each watched namespace; Argo CD's CreateNamespace makes
    only the destination, so the operator's sync fails on a namespace not made earlier."""
    argocd = [(path, doc) for path, doc in _docs() if path.parent.name == "argocd"]
    namespaces = {
        doc["metadata"]["name"]: _sync_wave(doc) for _, doc in argocd if doc["kind"] == "Namespace"
    }
    operators = [
        doc
        for _, doc in argocd
        if doc["kind"] == "Application" and doc["spec"]["source"].get("chart") == "gpufleet"
    ]
    assert operators
    for app in operators:
        wave = _sync_wave(app)
        earlier = {name for name, ns_wave in namespaces.items() if ns_wave < wave}
        missing = _watched(app["spec"]["source"]["helm"]["valuesObject"]) - earlier
        assert not missing, f"{app['metadata']['name']}: no Namespace before wave {wave}: {missing}"


def test_flux_creates_the_watched_namespaces_with_the_operator() -> None:
    """The chart puts a Role in each watched namespace; the HelmRelease's createNamespace
    makes only the target one, so the install fails, and the models wait forever."""
    releases = [(path, doc) for path, doc in _docs() if doc.get("kind") == "HelmRelease"]
    assert releases
    for path, release in releases:
        listed = yaml.safe_load((path.parent / "kustomization.yaml").read_text())["resources"]
        texts = [(path.parent / file).read_text() for file in listed]
        applied = [doc for text in texts for doc in yaml.safe_load_all(text) if doc]
        created = {doc["metadata"]["name"] for doc in applied if doc.get("kind") == "Namespace"}
        missing = _watched(release["spec"]["values"]) - created
        assert not missing, f"{path.parent}: watched namespaces nothing creates: {missing}"


def test_argocd_applications_retry_a_failed_sync() -> None:
    """Argo CD does not retry a failed automated sync of the same revision by itself: a
    namespace or CRD that was not there yet would leave the Application failed."""
    applications = _of_kind("Application")
    assert applications
    for app in applications:
        retry = app["spec"]["syncPolicy"].get("retry") or {}
        assert retry.get("limit", 0) != 0, f"{app['metadata']['name']}: no syncPolicy.retry"


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
