"""Bad values fail `helm install` with the offending field named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest

from .render import CHART_DIR, render

# (values, text the error must contain: the field's path)
INVALID: list[tuple[dict[str, Any], str]] = [
    ({"operatr": {}}, "operatr"),  # a typo is an error, not silently ignored
    ({"operator": {"tickSeconds": 0}}, "/operator/tickSeconds"),
    ({"operator": {"tickSeconds": "fast"}}, "/operator/tickSeconds"),
    ({"operator": {"prometheusUrl": "prometheus:9090"}}, "/operator/prometheusUrl"),
    ({"operator": {"logFormat": "xml"}}, "/operator/logFormat"),
    ({"operator": {"metricLabels": {"pod": "pod-name"}}}, "/operator/metricLabels/pod"),
    ({"operator": {"autoscaling": "yes"}}, "/operator/autoscaling"),
    ({"watch": {"scope": "Namespace"}}, "/watch/scope"),
    ({"watch": {"namespaces": ["Team_A"]}}, "/watch/namespaces/0"),
    ({"watch": {"scope": "Cluster", "namespaces": ["team-a"]}}, "/watch/namespaces"),
    ({"gpuPrices": {"nvidia-l4": 0}}, "/gpuPrices/nvidia-l4"),
    ({"gpuPrices": {"NVIDIA L4": 1.0}}, "/gpuPrices"),
    ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ({"image": {"digest": "latest"}}, "/image/digest"),
    ({"securityContext": {"runAsUser": 0}}, "/securityContext/runAsUser"),
    ({"ports": {"metrics": 70000}}, "/ports/metrics"),
    ({"prometheusRule": {"alerts": {"sloMissed": {"for": "ten minutes"}}}}, "sloMissed/for"),
    ({"prometheusRule": {"alerts": {"sloMissed": {"severity": "page"}}}}, "sloMissed/severity"),
    ({"networkPolicy": {"apiServerCIDRs": ["10.0.0.1"]}}, "/networkPolicy/apiServerCIDRs/0"),
    ({"crds": {"install": "true"}}, "/crds/install"),
    ({"operator": {"gpuNodeLabel": "GPU product"}}, "/operator/gpuNodeLabel"),
    ({"operator": {"prometheusAuth": {"bearerTokenFile": "token"}}}, "bearerTokenFile"),
    ({"topologySpreadConstraints": [{"maxSkew": 1}]}, "/topologySpreadConstraints/0"),
    ({"operator": {"extraVolumes": [{"emptyDir": {}}]}}, "/operator/extraVolumes/0"),
    (
        {"operator": {"extraVolumeMounts": [{"name": "ca", "mountPath": "etc/ca"}]}},
        "/operator/extraVolumeMounts/0/mountPath",
    ),
]

# Rules between values that JSON Schema cannot compare; the templates `fail` on them.
INVALID_COMBINATIONS: list[tuple[dict[str, Any], str]] = [
    (
        {"operator": {"rateWindowSeconds": 10, "scrapeIntervalSeconds": 10}},
        "operator.rateWindowSeconds",
    ),
    ({"operator": {"staleAfterSeconds": 5, "scrapeIntervalSeconds": 10}}, "staleAfterSeconds"),
    (
        {"metrics": {"service": {"enabled": False}, "serviceMonitor": {"enabled": True}}},
        "metrics.service.enabled",
    ),
    ({"serviceAccount": {"create": False}}, "serviceAccount.name"),
    (
        {"operator": {"prometheusAuth": {"secret": {"bearerTokenKey": "token"}}}},
        "operator.prometheusAuth.secret.name",
    ),
    (
        {"operator": {"prometheusAuth": {"username": "gpufleet"}}},
        "operator.prometheusAuth.secret.passwordKey",
    ),
    (
        {
            "operator": {
                "prometheusAuth": {
                    "secret": {"name": "p", "caKey": "ca.crt"},
                    "caConfigMap": {"name": "ca"},
                }
            }
        },
        "secret.caKey or caConfigMap.name",
    ),
    ({"operator": {"extraVolumes": [{"name": "tmp", "emptyDir": {}}]}}, "operator.extraVolumes"),
    # Duplicate env names break server-side apply (Argo CD) and strategic-merge upgrades.
    (
        {"operator": {"extraEnv": [{"name": "GPUFLEET_PROMETHEUS_URL", "value": "http://p:9090"}]}},
        "operator.extraEnv: GPUFLEET_PROMETHEUS_URL",
    ),
    (
        {
            "operator": {
                "prometheusAuth": {"secret": {"name": "prom", "bearerTokenKey": "token"}},
                "extraEnv": [{"name": "GPUFLEET_PROMETHEUS_BEARER_TOKEN_FILE", "value": "/t"}],
            }
        },
        "operator.extraEnv: GPUFLEET_PROMETHEUS_BEARER_TOKEN_FILE",
    ),
    # A pod label that is also a selector label would leave the Deployment selecting nothing.
    ({"podLabels": {"app.kubernetes.io/name": "ops"}}, "podLabels: app.kubernetes.io/name"),
    ({"podLabels": {"app.kubernetes.io/instance": "x"}}, "podLabels: app.kubernetes.io/instance"),
    # Two servers on one port: the second bind fails and the operator crash-loops.
    ({"ports": {"metrics": 8080}}, "ports.health and ports.metrics"),
]


@pytest.mark.parametrize(("values", "field"), INVALID, ids=[f for _, f in INVALID])
def test_invalid_values_are_rejected_naming_the_field(
    chart_dir: Path, values: dict[str, Any], field: str
) -> None:
    with pytest.raises(helm.HelmValuesError) as error:
        render(chart_dir, values)
    assert field in str(error.value)


@pytest.mark.parametrize(
    ("values", "field"), INVALID_COMBINATIONS, ids=[f for _, f in INVALID_COMBINATIONS]
)
def test_inconsistent_values_fail_the_render_naming_the_field(
    chart_dir: Path, values: dict[str, Any], field: str
) -> None:
    with pytest.raises(helm.HelmRenderError) as error:
        render(chart_dir, values)
    assert field in str(error.value)


def _walk(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = [(path or "<root>", node)]
    for name, child in node.get("properties", {}).items():
        out.extend(_walk(child, f"{path}.{name}" if path else name))
    return out


def test_every_schema_node_is_described_and_objects_are_closed() -> None:
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    open_maps = {
        # Kubernetes objects passed through verbatim, and free-form label/annotation maps.
        "global", "resources", "affinity", "networkPolicy.prometheus.namespaceSelector",
        "networkPolicy.prometheus.podSelector",
    }  # fmt: skip
    for path, node in _walk(schema)[1:]:
        assert node.get("description"), f"{path} has no description"
        if node.get("type") == "object" and node.get("properties"):
            assert node.get("additionalProperties") is False, f"{path} accepts unknown keys"
        elif node.get("type") == "object":
            assert (
                path in open_maps
                or isinstance(node.get("additionalProperties"), dict)
                or "patternProperties" in node
            ), f"{path} is an object without a schema for its keys"
