"""Render the gpufleet chart offline with Helm's Go SDK (helm-python-sdk; no helm binary)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "gpufleet"
CRD_FILE = "modeldeployments.gpufleet.io.yaml"
REPO_CRD = REPO_ROOT / "crds" / CRD_FILE
CHART_CRD = CHART_DIR / "files" / "crds" / CRD_FILE
RELEASE = "gpufleet"
NAMESPACE = "gpufleet-system"

# Stand-in for the generated CRD while crds/ does not exist yet: only the tests use
# it, so everything but the CRD comparison can run before the lead generates it.
PLACEHOLDER_CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: modeldeployments.gpufleet.io
spec:
  group: gpufleet.io
  names: {kind: ModelDeployment, listKind: ModelDeploymentList, plural: modeldeployments,
          singular: modeldeployment, shortNames: [md, mdep]}
  scope: Namespaced
  versions:
    - name: v1alpha1
      served: true
      storage: true
      subresources: {status: {}}
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""


def chart_for_tests(scratch: Path) -> Path:
    """The chart, or (before crds/ is generated and synced) a copy with a placeholder CRD."""
    if CHART_CRD.exists():
        return CHART_DIR
    copy = scratch / "gpufleet"
    shutil.copytree(CHART_DIR, copy)
    (copy / "files" / "crds").mkdir(parents=True, exist_ok=True)
    (copy / "files" / "crds" / CRD_FILE).write_text(PLACEHOLDER_CRD)
    return copy


@dataclass(frozen=True)
class Rendered:
    """The objects a `helm install` would apply, plus its NOTES."""

    objects: list[dict[str, Any]]
    manifests: dict[str, str]
    notes: str

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.of_kind(kind)
        assert len(found) == 1, f"expected one {kind}, got {len(found)}"
        return found[0]

    @property
    def kinds(self) -> set[str]:
        return {o["kind"] for o in self.objects}

    def pod_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.one("Deployment")["spec"]["template"]["spec"]
        return spec

    def container(self) -> dict[str, Any]:
        container: dict[str, Any] = self.pod_spec()["containers"][0]
        return container

    def env(self) -> dict[str, str]:
        return {e["name"]: e.get("value", "") for e in self.container()["env"]}


def render(
    chart_dir: Path,
    values: dict[str, Any] | None = None,
    namespace: str = NAMESPACE,
    release: str = RELEASE,
) -> Rendered:
    """Render like `helm install release chart -n namespace -f values` (schema checked)."""
    with helm.Chart.load(chart_dir) as chart:
        manifests = chart.render(values or {}, name=release, namespace=namespace, is_install=True)
    objects: list[dict[str, Any]] = []
    notes = ""
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            notes = text
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return Rendered(objects=objects, manifests=manifests, notes=notes)


# Value sets every structural test runs against: defaults, and everything switched on.
EVERYTHING_ON: dict[str, Any] = {
    "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus"}}},
    "podMonitor": {"enabled": True},
    "prometheusRule": {"enabled": True},
    "grafanaDashboard": {"enabled": True},
    "networkPolicy": {"enabled": True, "apiServerCIDRs": ["10.0.0.1/32"]},
}
VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "namespaced-everything": {**EVERYTHING_ON, "watch": {"namespaces": ["team-a", "team-b"]}},
    "cluster-everything": {**EVERYTHING_ON, "watch": {"scope": "Cluster"}},
    "custom": {
        "image": {"digest": "sha256:" + "a" * 64},
        "serviceAccount": {"name": "ops-gpufleet", "annotations": {"iam.example/role": "x"}},
        "operator": {
            "extraArgs": ["--verbose"],
            "extraEnv": [{"name": "TZ", "value": "UTC"}],
            "metricLabels": {"namespace": "k8s_namespace", "pod": "k8s_pod"},
            "gpuNodeLabel": "cloud.google.com/gke-accelerator",
            "prometheusAuth": {
                "secret": {"name": "prom-reader", "bearerTokenKey": "token"},
                "caConfigMap": {"name": "service-ca", "key": "service-ca.crt"},
            },
        },
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "ops", "operator": "Exists", "effect": "NoSchedule"}],
        "priorityClassName": "system-cluster-critical",
        "crds": {"install": False},
    },
}
