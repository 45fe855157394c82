"""Installs as platform teams make them: long release names, other namespaces, private
registries, existing ServiceAccounts, scheduling constraints, extra env and volumes.

Every case renders the chart and checks the objects a cluster would receive: valid for
the oldest and newest Kubernetes the chart supports, names and labels within the API
server's limits, the pod still "restricted", and the Deployment selector unchanged by
any of these values (it is immutable: a change would fail `helm upgrade`).
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import requests.utils
import yaml

from .render import RELEASE, VALUE_SETS, Rendered, render
from .test_pod_security import restricted_violations

K8S_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
CUSTOM_RESOURCE_GROUPS = ("monitoring.coreos.com/",)
# Helm refuses release names over 53 characters; this one is 53.
LONG_RELEASE = "platform-observability-gpu-inference-autoscaler-eu-w1"
assert len(LONG_RELEASE) == 53

_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")  # RFC 1035: Service names
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

KPS = {"release": "kube-prometheus-stack"}  # kube-prometheus-stack's default selectors
EVERYTHING_ON: dict[str, Any] = {
    "metrics": {"serviceMonitor": {"enabled": True, "labels": KPS}},
    "podMonitor": {"enabled": True, "labels": KPS},
    "prometheusRule": {"enabled": True, "labels": KPS},
    "grafanaDashboard": {"enabled": True},
    "networkPolicy": {"enabled": True},
}

PROJECTED_TOKEN = {
    "serviceAccountToken": {"audience": "prometheus", "path": "token", "expirationSeconds": 3600}
}
# (release, namespace, values): what platform teams set, alone and together.
PLATFORM_CASES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "long-release-name": (LONG_RELEASE, "platform-gpu", EVERYTHING_ON),
    "long-fullname-override": (RELEASE, "ops", {**EVERYTHING_ON, "fullnameOverride": "f" * 63}),
    "private-registry-digest": (
        RELEASE,
        "gpufleet-system",
        {
            "image": {
                "repository": "registry.corp.example:5000/platform/gpufleet-operator",
                "digest": "sha256:" + "c" * 64,
                "pullPolicy": "Always",
            },
            "imagePullSecrets": [{"name": "corp-registry"}],
        },
    ),
    "namespaced-several": (
        RELEASE,
        "platform-gpu",
        {**EVERYTHING_ON, "watch": {"namespaces": ["team-a", "team-b", "team-c"]}},
    ),
    "cluster-existing-sa-no-rbac": (
        RELEASE,
        "platform-gpu",
        {
            **EVERYTHING_ON,
            "watch": {"scope": "Cluster"},
            "serviceAccount": {"create": False, "name": "gpufleet-operator"},
            "rbac": {"create": False},
        },
    ),
    "scheduling-and-resources": (
        RELEASE,
        "gpufleet-system",
        {
            "nodeSelector": {"node-role.kubernetes.io/infra": ""},
            "tolerations": [{"key": "infra", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {
                                        "key": "kubernetes.io/arch",
                                        "operator": "In",
                                        "values": ["amd64", "arm64"],
                                    }
                                ]
                            }
                        ]
                    }
                }
            },
            "priorityClassName": "platform-critical",
            "resources": {
                "requests": {"cpu": "50m", "memory": "96Mi"},
                "limits": {"cpu": "1", "memory": "512Mi"},
            },
        },
    ),
    "proxy-and-sidecars": (
        RELEASE,
        "gpufleet-system",
        {
            "operator": {
                "extraEnv": [
                    {"name": "HTTPS_PROXY", "value": "http://proxy.corp.example:3128"},
                    {"name": "HTTP_PROXY", "value": "http://proxy.corp.example:3128"},
                    {"name": "NO_PROXY", "value": "$(KUBERNETES_SERVICE_HOST),.svc,.cluster.local"},
                ]
            },
            "podAnnotations": {
                "sidecar.istio.io/inject": "true",
                "proxy.istio.io/config": '{"holdApplicationUntilProxyStarts": true}',
                "vault.hashicorp.com/agent-inject": "true",
                "vault.hashicorp.com/role": "gpufleet",
            },
            "podLabels": {"sidecar.istio.io/inject": "true", "team": "platform"},
        },
    ),
    "prometheus-token-and-ca": (
        RELEASE,
        "gpufleet-system",
        {
            "operator": {
                "prometheusUrl": "https://prometheus.monitoring.svc:9091",
                "prometheusAuth": {
                    "secret": {"name": "prom-reader", "bearerTokenKey": "token", "caKey": "ca.crt"}
                },
            }
        },
    ),
    "topology-spread": (
        RELEASE,
        "gpufleet-system",
        {
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "ScheduleAnyway",
                },
                {
                    "maxSkew": 1,
                    "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {"tier": "platform"}},
                },
            ]
        },
    ),
    "extra-volumes-projected-token": (
        RELEASE,
        "gpufleet-system",
        {
            "operator": {
                "prometheusUrl": "https://thanos-querier.obs.svc:9091",
                "prometheusAuth": {"bearerTokenFile": "/var/run/secrets/prometheus/token"},
                "extraEnv": [{"name": "SSL_CERT_FILE", "value": "/etc/ssl/corp/ca.crt"}],
                "extraVolumes": [
                    {"name": "corp-ca", "configMap": {"name": "corp-ca-bundle"}},
                    {"name": "prometheus-token", "projected": {"sources": [PROJECTED_TOKEN]}},
                ],
                "extraVolumeMounts": [
                    {"name": "corp-ca", "mountPath": "/etc/ssl/corp", "readOnly": True},
                    {
                        "name": "prometheus-token",
                        "mountPath": "/var/run/secrets/prometheus",
                        "readOnly": True,
                    },
                ],
            }
        },
    ),
}


def _render_case(chart_dir: Path, case: str) -> Rendered:
    release, namespace, values = PLATFORM_CASES[case]
    return render(chart_dir, values, namespace=namespace, release=release)


@pytest.mark.parametrize("case", sorted(PLATFORM_CASES))
def test_every_object_is_valid_kubernetes(chart_dir: Path, case: str) -> None:
    for obj in _render_case(chart_dir, case).objects:
        if obj["apiVersion"].startswith(CUSTOM_RESOURCE_GROUPS):
            continue  # Prometheus Operator CRs: no upstream schema
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} invalid for {version}: {exc}")


@pytest.mark.parametrize("case", sorted(PLATFORM_CASES))
def test_names_and_labels_fit_the_api_servers_limits(chart_dir: Path, case: str) -> None:
    """The OpenAPI schemas do not check lengths; the API server does, at install time."""
    for obj in _render_case(chart_dir, case).objects:
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind == "Service":
            assert len(name) <= 63, f"Service name {name!r}"
            assert _DNS_LABEL.match(name), f"Service name {name!r}"
        elif kind not in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"):
            assert len(name) <= 253, f"{kind} name {name!r}"
            assert _DNS_SUBDOMAIN.match(name), f"{kind} name {name!r}"
        labelled = [obj["metadata"].get("labels", {})]
        template = obj.get("spec", {}).get("template", {}).get("metadata", {})
        labelled.append(template.get("labels", {}))
        for labels in labelled:
            for key, value in labels.items():
                assert len(value) <= 63, f"{kind} {key}={value!r}"
                assert _LABEL_VALUE.match(value), f"{kind} {key}={value!r}"


def _monitored(values: dict[str, Any]) -> bool:
    """Whether the values render the ServiceMonitor and the PrometheusRule."""
    metrics = values.get("metrics", {}).get("serviceMonitor", {})
    return bool(metrics.get("enabled")) and bool(values.get("prometheusRule", {}).get("enabled"))


@pytest.mark.parametrize(
    "case", sorted(c for c, (_, _, values) in PLATFORM_CASES.items() if _monitored(values))
)
def test_operator_down_alert_watches_the_metrics_service(chart_dir: Path, case: str) -> None:
    """The ServiceMonitor's series carry job=<Service name>; the alert must ask for that."""
    rendered = _render_case(chart_dir, case)
    service = rendered.one("Service")["metadata"]
    rules = rendered.one("PrometheusRule")["spec"]["groups"][0]["rules"]
    (down,) = [r for r in rules if r["alert"] == "GpufleetOperatorDown"]
    assert f'job="{service["name"]}", namespace="{service["namespace"]}"' in down["expr"]


@pytest.mark.parametrize("case", sorted(PLATFORM_CASES))
def test_operator_pod_stays_restricted(chart_dir: Path, case: str) -> None:
    assert restricted_violations(_render_case(chart_dir, case).pod_spec()) == []


def test_topology_spread_selects_the_operator_pod_unless_told_otherwise(chart_dir: Path) -> None:
    rendered = _render_case(chart_dir, "topology-spread")
    pod_labels = rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    zone, host = rendered.pod_spec()["topologySpreadConstraints"]
    assert zone["labelSelector"]["matchLabels"].items() <= pod_labels.items()
    assert zone["topologyKey"] == "topology.kubernetes.io/zone"
    assert host["labelSelector"] == {"matchLabels": {"tier": "platform"}}


def test_extra_volumes_are_mounted_where_the_operator_reads_them(chart_dir: Path) -> None:
    rendered = _render_case(chart_dir, "extra-volumes-projected-token")
    volumes = {v["name"]: v for v in rendered.pod_spec()["volumes"]}
    assert volumes["prometheus-token"]["projected"]["sources"] == [PROJECTED_TOKEN]
    assert {"gpu-prices", "tmp", "corp-ca"} <= volumes.keys()
    mounts = {m["mountPath"]: m["name"] for m in rendered.container()["volumeMounts"]}
    token_file = Path(rendered.env()["GPUFLEET_PROMETHEUS_BEARER_TOKEN_FILE"])
    assert mounts[str(token_file.parent)] == "prometheus-token"
    assert mounts[str(Path(rendered.env()["SSL_CERT_FILE"]).parent)] == "corp-ca"
    assert mounts["/tmp"] == "tmp"


def _proxied(url: str, env: dict[str, str]) -> bool:
    """Whether the operator's HTTP clients would send ``url`` to the proxy under ``env``."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        # aiohttp (trust_env, the Kubernetes API client) asks urllib; requests (Prometheus)
        # has its own NO_PROXY matching.
        host = urllib.parse.urlsplit(url).hostname or ""
        api_bypassed = bool(urllib.request.proxy_bypass_environment(host))
        prom_bypassed = bool(requests.utils.should_bypass_proxies(url, None))
        return not (api_bypassed and prom_bypassed)


@pytest.mark.parametrize(
    ("no_proxy", "warned"),
    [
        ("10.0.0.0/8,.svc,.cluster.local", True),  # Python matches no CIDR
        (None, True),
        ("$(KUBERNETES_SERVICE_HOST),.svc,.cluster.local", False),  # docs/install.md
    ],
)
def test_a_proxy_keeps_cluster_traffic_direct_or_the_notes_warn(
    chart_dir: Path, no_proxy: str | None, warned: bool
) -> None:
    env = [{"name": "HTTPS_PROXY", "value": "http://proxy.corp.example:3128"}]
    if no_proxy is not None:
        env.append({"name": "NO_PROXY", "value": no_proxy})
    rendered = render(chart_dir, {"operator": {"extraEnv": env}})
    assert ("WARNING" in rendered.notes) is warned
    # The pod's environment as the kubelet expands it ($(VAR) of service variables).
    pod_env = {k: v for k, v in rendered.env().items() if k.endswith("PROXY")}
    pod_env = {k: v.replace("$(KUBERNETES_SERVICE_HOST)", "10.96.0.1") for k, v in pod_env.items()}
    pod_env.setdefault("NO_PROXY", "")
    api = _proxied("https://10.96.0.1:443/apis/gpufleet.io/v1alpha1", pod_env)
    prometheus = _proxied(rendered.env()["GPUFLEET_PROMETHEUS_URL"], pod_env)
    assert (api or prometheus) is warned


def test_extra_env_may_set_what_the_chart_leaves_unset(chart_dir: Path) -> None:
    """Only names the chart itself sets are refused (tests/chart/test_values_schema.py)."""
    extra = [
        {"name": "GPUFLEET_PROMETHEUS_BEARER_TOKEN_FILE", "value": "/var/run/token"},
        {"name": "TZ", "value": "UTC"},
    ]
    env = render(chart_dir, {"operator": {"extraEnv": extra}}).container()["env"]
    names = [e["name"] for e in env]
    assert len(names) == len(set(names))
    assert env[-2:] == extra


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


@pytest.mark.parametrize("tracking_label", ["app.kubernetes.io/instance", None])
def test_service_monitor_finds_the_service_under_argo_cd_label_tracking(
    chart_dir: Path, tracking_label: str | None
) -> None:
    """Argo CD before 3.0 (label tracking) sets app.kubernetes.io/instance=<Application
    name> on every object it applies; the example Application is gpufleet-operator with
    releaseName gpufleet. Pod template labels are left alone."""
    rendered = render(chart_dir, EVERYTHING_ON)
    if tracking_label:
        for obj in rendered.objects:
            obj["metadata"].setdefault("labels", {})[tracking_label] = "gpufleet-operator"
    service = rendered.one("Service")
    monitor = rendered.one("ServiceMonitor")
    pod_labels = rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert _selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert _selects(service["spec"]["selector"], pod_labels)
    policy = rendered.one("NetworkPolicy")["spec"]["podSelector"]["matchLabels"]
    assert _selects(policy, pod_labels)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key twice in one mapping, as the API server's
    decoder does (PyYAML, and so Rendered.objects, silently keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        repeated = {k for k in keys if keys.count(k) > 1}
        if repeated:
            raise yaml.constructor.ConstructorError(
                None, None, f"repeated keys {sorted(repeated)}", node.start_mark
            )
        return super().construct_mapping(node, deep=deep)


@pytest.mark.parametrize("case", sorted(PLATFORM_CASES) + sorted(VALUE_SETS))
def test_no_manifest_repeats_a_key(chart_dir: Path, case: str) -> None:
    if case in PLATFORM_CASES:
        rendered = _render_case(chart_dir, case)
    else:
        rendered = render(chart_dir, VALUE_SETS[case])
    for path, text in rendered.manifests.items():
        if not path.endswith("NOTES.txt"):
            list(yaml.load_all(text, Loader=_UniqueKeyLoader))


# Renaming (fullnameOverride, nameOverride) makes a new Deployment, not an upgrade of the old.
@pytest.mark.parametrize(
    "case",
    sorted(
        c
        for c, (_, _, values) in PLATFORM_CASES.items()
        if "fullnameOverride" not in values and "nameOverride" not in values
    ),
)
def test_helm_upgrade_to_these_values_keeps_the_deployment_selector(
    chart_dir: Path, case: str
) -> None:
    """spec.selector is immutable: `helm upgrade` from the defaults must not change it."""
    release, namespace, _ = PLATFORM_CASES[case]
    before = render(chart_dir, {}, namespace=namespace, release=release).one("Deployment")
    after = _render_case(chart_dir, case).one("Deployment")
    assert after["metadata"]["name"] == before["metadata"]["name"]
    assert after["spec"]["selector"] == before["spec"]["selector"]


def _egress_allowed(policy: dict[str, Any], ip: str, port: int) -> bool:
    """Whether a NetworkPolicy lets its pods open TCP to ``ip:port`` outside the
    cluster's pods (only ipBlock peers, or rules without peers, can allow that)."""
    address = ipaddress.ip_address(ip)
    for rule in policy["spec"].get("egress", []):
        ports = rule.get("ports")
        if ports and not any(
            p["port"] == port and p.get("protocol", "TCP") == "TCP" for p in ports
        ):
            continue
        peers = rule.get("to")
        if not peers:
            return True
        for block in (peer["ipBlock"] for peer in peers if "ipBlock" in peer):
            excepted = any(address in ipaddress.ip_network(e) for e in block.get("except", []))
            if address in ipaddress.ip_network(block["cidr"]) and not excepted:
                return True
    return False


def test_network_policy_can_let_the_operator_reach_a_proxy_or_an_outside_prometheus(
    chart_dir: Path,
) -> None:
    """With an HTTPS proxy in operator.extraEnv (or a Prometheus outside the cluster),
    the chart's NetworkPolicy alone blocks every query: MetricsAvailable=False on every
    ModelDeployment. networkPolicy.extraEgress lets it through without turning the policy off."""
    proxy = {"name": "HTTPS_PROXY", "value": "http://10.20.0.5:3128"}
    values: dict[str, Any] = {
        "operator": {"extraEnv": [proxy]},
        "networkPolicy": {"enabled": True},
    }
    policy = render(chart_dir, values).one("NetworkPolicy")
    assert not _egress_allowed(policy, "10.20.0.5", 3128)
    values["networkPolicy"]["extraEgress"] = [
        {
            "to": [{"ipBlock": {"cidr": "10.20.0.5/32"}}],
            "ports": [{"port": 3128, "protocol": "TCP"}],
        }
    ]
    policy = render(chart_dir, values).one("NetworkPolicy")
    assert _egress_allowed(policy, "10.20.0.5", 3128)
    assert not _egress_allowed(policy, "10.20.0.6", 3128)
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(policy, version, strict=True)
