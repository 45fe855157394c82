"""The chart renders to valid Kubernetes objects, wired to the operator's settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest

from gpufleet.domain.manifests.identity import MANAGED_BY
from gpufleet.domain.pricing import DEFAULT_GPU_PRICES
from gpufleet.settings import OperatorSettings

from .render import NAMESPACE, VALUE_SETS, Rendered, render

# Oldest supported (Chart.yaml kubeVersion) and newest schemas shipped by kubernetes-validate.
K8S_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
CUSTOM_RESOURCE_GROUPS = ("monitoring.coreos.com/",)


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_object_is_valid_kubernetes(chart_dir: Path, value_set: str) -> None:
    rendered = render(chart_dir, VALUE_SETS[value_set])
    assert {"Deployment", "ServiceAccount", "ConfigMap"} <= rendered.kinds
    for obj in rendered.objects:
        if obj["apiVersion"].startswith(CUSTOM_RESOURCE_GROUPS):
            continue  # Prometheus Operator CRs: no upstream schema to validate against
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} invalid for {version}: {exc}")


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_helm_lint_is_clean(chart_dir: Path, value_set: str) -> None:
    report: dict[str, Any] = helm.lint(
        chart_dir, VALUE_SETS[value_set], strict=True, namespace=NAMESPACE, kube_version="v1.29.0"
    )
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # warnings and errors
    assert report["errors"] == [], report
    assert problems == [], problems


def test_optional_objects_are_off_by_default(chart_dir: Path) -> None:
    kinds = render(chart_dir).kinds
    assert not kinds & {"ServiceMonitor", "PodMonitor", "PrometheusRule", "NetworkPolicy"}
    assert "gpufleet-dashboard" not in {
        o["metadata"]["name"] for o in render(chart_dir).of_kind("ConfigMap")
    }


def test_one_replica_recreated_on_upgrade(chart_dir: Path) -> None:
    deployment = render(chart_dir).one("Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def _settings_from_pod(rendered: Rendered, scratch: Path) -> OperatorSettings:
    """What the operator would parse from the pod: its env, with the ConfigMap mounted."""
    env = rendered.env()
    container = rendered.container()
    prices_cm = next(
        cm for cm in rendered.of_kind("ConfigMap") if cm["metadata"]["name"].endswith("gpu-prices")
    )
    volume = next(
        v
        for v in rendered.pod_spec()["volumes"]
        if v.get("configMap", {}).get("name") == prices_cm["metadata"]["name"]
    )
    mount = next(m for m in container["volumeMounts"] if m["name"] == volume["name"])
    key = Path(env["GPUFLEET_GPU_PRICES"]).relative_to(mount["mountPath"])
    mounted = scratch / "prices.json"
    mounted.write_text(prices_cm["data"][str(key)])
    env["GPUFLEET_GPU_PRICES"] = str(mounted)
    return OperatorSettings.from_env(env)


def test_defaults_give_the_operators_default_settings(chart_dir: Path, tmp_path: Path) -> None:
    settings = _settings_from_pod(render(chart_dir), tmp_path)
    defaults = OperatorSettings()
    # Where the release runs is not a default: the chart says it (checked in
    # test_operator_settings_values.py).
    where = {"namespaces", "operator_namespace", "operator_pod_labels"}
    assert settings.model_dump(exclude=where) == defaults.model_dump(exclude=where)
    assert settings.gpu_prices == DEFAULT_GPU_PRICES
    # Namespaced by default: the release namespace only, never cluster-wide.
    assert settings.namespaces == (NAMESPACE,)


def test_operator_values_reach_the_operator(chart_dir: Path, tmp_path: Path) -> None:
    labels = {"namespace": "kube_namespace", "modeldeployment": "md", "pod": "p"}
    values: dict[str, Any] = {
        "operator": {
            "prometheusUrl": "http://thanos-query.obs.svc:10902",
            "tickSeconds": 2.5,
            "rateWindowSeconds": 60,
            "scrapeIntervalSeconds": 10,
            "staleAfterSeconds": 45,
            "queryTimeoutSeconds": 3,
            "autoscaling": False,
            "metricLabels": labels,
            "peeringPriority": 50,
            "peeringName": "gpufleet-team-a",
        },
        "gpuPrices": {"nvidia-l4": 0.65, "nvidia-b200": 12.5, "cpu": None},
        "watch": {"namespaces": ["team-a", "team-b"]},
    }
    settings = _settings_from_pod(render(chart_dir, values), tmp_path)
    assert settings.prometheus_url == "http://thanos-query.obs.svc:10902"
    assert (settings.tick_seconds, settings.rate_window_seconds) == (2.5, 60)
    assert (settings.scrape_interval_seconds, settings.stale_after_seconds) == (10, 45)
    assert settings.query_timeout_seconds == 3
    assert settings.autoscaling_enabled is False
    assert settings.peering_priority == 50
    assert settings.peering_name == "gpufleet-team-a"
    assert settings.labels.model_dump() == labels
    assert settings.namespaces == ("team-a", "team-b")
    # Helm merges maps: overrides and additions win, null removes a default.
    assert settings.gpu_prices["nvidia-l4"] == 0.65
    assert settings.gpu_prices["nvidia-b200"] == 12.5
    assert "cpu" not in settings.gpu_prices
    assert settings.gpu_prices["nvidia-h100"] == DEFAULT_GPU_PRICES["nvidia-h100"]


def test_cluster_scope_watches_every_namespace(chart_dir: Path, tmp_path: Path) -> None:
    settings = _settings_from_pod(render(chart_dir, {"watch": {"scope": "Cluster"}}), tmp_path)
    assert settings.namespaces == ()


def test_changing_prices_restarts_the_operator(chart_dir: Path) -> None:
    def checksum(values: dict[str, Any]) -> str:
        deployment = render(chart_dir, values).one("Deployment")
        annotation: str = deployment["spec"]["template"]["metadata"]["annotations"][
            "checksum/gpu-prices"
        ]
        return annotation

    assert checksum({}) == checksum({"operator": {"tickSeconds": 7}})
    assert checksum({}) != checksum({"gpuPrices": {"nvidia-l4": 0.7}})


def test_operator_command_line(chart_dir: Path) -> None:
    container = render(chart_dir, {"ports": {"health": 8181, "metrics": 9191}}).container()
    assert container["command"] == ["gpufleet"]
    assert container["args"][:4] == [
        "run",
        "--log-format=json",
        "--liveness=http://:8181/healthz",
        "--metrics-port=9191",
    ]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"health": 8181, "metrics": 9191}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}


def test_image_defaults_to_app_version_and_digest_wins(chart_dir: Path) -> None:
    with helm.Chart.load(chart_dir) as chart:
        app_version = chart.metadata["appVersion"]
    image = render(chart_dir).container()["image"]
    assert image == f"ghcr.io/gpufleet/gpufleet-operator:{app_version}"
    digest = "sha256:" + "b" * 64
    pinned = render(chart_dir, {"image": {"tag": "0.0.9", "digest": digest}}).container()
    assert pinned["image"] == f"ghcr.io/gpufleet/gpufleet-operator@{digest}"


def test_pod_monitor_scrapes_models_with_the_operators_labels(chart_dir: Path) -> None:
    values = {
        "podMonitor": {"enabled": True},
        "operator": {
            "scrapeIntervalSeconds": 2.5,
            "rateWindowSeconds": 10,
            "metricLabels": {"modeldeployment": "md", "namespace": "ns", "pod": "instance_pod"},
        },
        "watch": {"namespaces": ["team-a"]},
    }
    monitor = render(chart_dir, values).one("PodMonitor")
    assert monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/managed-by"] == "gpufleet"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["team-a"]}
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "metrics"
    assert endpoint["interval"] == "2500ms"
    relabel = {r["sourceLabels"][0]: r["targetLabel"] for r in endpoint["relabelings"]}
    assert relabel == {
        "__meta_kubernetes_pod_label_gpufleet_io_modeldeployment": "md",
        "__meta_kubernetes_namespace": "ns",
        "__meta_kubernetes_pod_name": "instance_pod",
    }
    cluster = render(chart_dir, {"podMonitor": {"enabled": True}, "watch": {"scope": "Cluster"}})
    assert cluster.one("PodMonitor")["spec"]["namespaceSelector"] == {"any": True}


def test_service_monitor_keeps_modeldeployment_namespaces(chart_dir: Path) -> None:
    rendered = render(chart_dir, {"metrics": {"serviceMonitor": {"enabled": True}}})
    monitor = rendered.one("ServiceMonitor")
    service = rendered.one("Service")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    # Without honorLabels Prometheus renames the series' namespace to exported_namespace.
    assert endpoint["honorLabels"] is True


def test_dashboard_configmap_holds_the_dashboard(chart_dir: Path) -> None:
    values = {"grafanaDashboard": {"enabled": True, "namespace": "grafana"}}
    dashboard_cm = next(
        cm
        for cm in render(chart_dir, values).of_kind("ConfigMap")
        if cm["metadata"]["name"].endswith("-dashboard")
    )
    assert dashboard_cm["metadata"]["namespace"] == "grafana"
    assert dashboard_cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    (text,) = dashboard_cm["data"].values()
    assert json.loads(text)["uid"] == "gpufleet-modeldeployments"


def test_network_policy_allows_what_the_operator_needs(chart_dir: Path) -> None:
    values = {
        "networkPolicy": {
            "enabled": True,
            "apiServerCIDRs": ["172.20.0.1/32"],
            "prometheus": {"port": 10902},
        }
    }
    policy = render(chart_dir, values).one("NetworkPolicy")["spec"]
    egress_ports = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
    assert {53, 443, 6443, 10902, "http"} <= egress_ports
    # The model pods' HTTP port (their model configuration), in any namespace.
    model_rule = next(r for r in policy["egress"] if any(p["port"] == "http" for p in r["ports"]))
    assert model_rule["to"] == [
        {
            "namespaceSelector": {},
            "podSelector": {"matchLabels": {"app.kubernetes.io/managed-by": MANAGED_BY}},
        }
    ]
    api_rule = next(r for r in policy["egress"] if any(p["port"] == 6443 for p in r["ports"]))
    assert api_rule["to"] == [{"ipBlock": {"cidr": "172.20.0.1/32"}}]
    ingress_ports = {p["port"] for rule in policy["ingress"] for p in rule["ports"]}
    assert ingress_ports == {"metrics", "health"}


def test_notes_tell_what_is_watched(chart_dir: Path) -> None:
    assert (
        "team-a, team-b" in render(chart_dir, {"watch": {"namespaces": ["team-a", "team-b"]}}).notes
    )
    assert "every namespace" in render(chart_dir, {"watch": {"scope": "Cluster"}}).notes
