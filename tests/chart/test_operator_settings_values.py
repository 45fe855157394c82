"""Values for GPU node selection and Prometheus auth reach the operator's settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gpufleet.settings import OperatorSettings

from .render import render

AUTH_DIR = "/etc/gpufleet/prometheus-auth"


def _settings(values: dict[str, Any], chart_dir: Path) -> tuple[OperatorSettings, dict[str, Any]]:
    rendered = render(chart_dir, values)
    env = rendered.env()
    env.pop("GPUFLEET_GPU_PRICES", None)  # a mounted file; other tests read it
    return OperatorSettings.from_env(env), rendered.pod_spec()


def _mounts(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    return {m["mountPath"]: {**m, **volumes[m["name"]]} for m in container["volumeMounts"]}


def test_gpu_node_label_defaults_to_gpu_feature_discovery(chart_dir: Path) -> None:
    settings, _ = _settings({}, chart_dir)
    assert settings.gpu_node_label == "nvidia.com/gpu.product"
    settings, _ = _settings(
        {"operator": {"gpuNodeLabel": "cloud.google.com/gke-accelerator"}}, chart_dir
    )
    assert settings.gpu_node_label == "cloud.google.com/gke-accelerator"


def test_no_prometheus_auth_by_default(chart_dir: Path) -> None:
    settings, pod = _settings({}, chart_dir)
    assert settings.prometheus_bearer_token_file is None
    assert settings.prometheus_ca_file is None
    assert AUTH_DIR not in _mounts(pod)


def test_bearer_token_and_ca_from_a_mounted_secret(chart_dir: Path) -> None:
    auth = {"secret": {"name": "prom-reader", "bearerTokenKey": "token", "caKey": "ca.crt"}}
    settings, pod = _settings({"operator": {"prometheusAuth": auth}}, chart_dir)
    assert str(settings.prometheus_bearer_token_file) == f"{AUTH_DIR}/token"
    assert str(settings.prometheus_ca_file) == f"{AUTH_DIR}/ca.crt"
    mount = _mounts(pod)[AUTH_DIR]
    assert mount["secret"] == {"secretName": "prom-reader"}
    assert mount["readOnly"] is True
    assert "subPath" not in mount  # a rotated token must reach the pod


def test_basic_auth_and_a_ca_configmap(chart_dir: Path) -> None:
    auth = {
        "username": "gpufleet",
        "secret": {"name": "prom-basic", "passwordKey": "password"},
        "caConfigMap": {"name": "service-ca", "key": "service-ca.crt"},
    }
    settings, pod = _settings({"operator": {"prometheusAuth": auth}}, chart_dir)
    assert settings.prometheus_username == "gpufleet"
    assert str(settings.prometheus_password_file) == f"{AUTH_DIR}/password"
    assert str(settings.prometheus_ca_file) == "/etc/gpufleet/prometheus-ca/service-ca.crt"
    assert _mounts(pod)["/etc/gpufleet/prometheus-ca"]["configMap"] == {"name": "service-ca"}


def test_a_token_file_already_in_the_pod(chart_dir: Path) -> None:
    path = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    settings, _ = _settings({"operator": {"prometheusAuth": {"bearerTokenFile": path}}}, chart_dir)
    assert str(settings.prometheus_bearer_token_file) == path


def test_kopf_peering_identity_is_the_pod_name(chart_dir: Path) -> None:
    # kopf names its peering keep-alive after POD_ID; without it, user@host, which
    # needs a passwd entry for the pod's UID.
    (container,) = render(chart_dir).pod_spec()["containers"]
    pod_id = next(e for e in container["env"] if e["name"] == "POD_ID")
    assert pod_id["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_the_operator_knows_where_its_own_pods_run(chart_dir: Path) -> None:
    # A NetworkPolicy the operator builds lets exactly these pods reach the model's HTTP
    # port (where it reads the model's configuration).
    settings, _ = _settings({}, chart_dir)
    (deployment,) = render(chart_dir).of_kind("Deployment")
    assert settings.operator_namespace == "gpufleet-system"
    assert settings.operator_pod_labels == deployment["spec"]["selector"]["matchLabels"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert settings.operator_pod_labels.items() <= pod_labels.items()


def test_operator_pod_labels_that_are_not_key_value_pairs_are_refused() -> None:
    with pytest.raises(ValueError, match="GPUFLEET_OPERATOR_POD_LABELS: 'app' is not key=value"):
        OperatorSettings.from_env({"GPUFLEET_OPERATOR_POD_LABELS": "app,tier=x"})


def test_prometheus_headers_reach_the_reader(chart_dir: Path) -> None:
    settings, _ = _settings({}, chart_dir)
    assert settings.prometheus_headers == {}
    tenant = {"headers": {"X-Scope-OrgID": "team-a|team-b"}}
    settings, _ = _settings({"operator": {"prometheusAuth": tenant}}, chart_dir)
    assert settings.prometheus_headers == {"X-Scope-OrgID": "team-a|team-b"}


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": "Bearer x"}, {"authorization": "Bearer x"}, {"X Tenant": "a"}],
)
def test_prometheus_headers_the_reader_cannot_send_fail_the_install(
    chart_dir: Path, headers: dict[str, str]
) -> None:
    (name,) = headers
    with pytest.raises(Exception, match=f"invalid propertyName '{name}'"):
        render(chart_dir, {"operator": {"prometheusAuth": {"headers": headers}}})
