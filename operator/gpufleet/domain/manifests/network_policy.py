"""The NetworkPolicy in front of the model pods (``spec.networkPolicy``).

Selects the ModelDeployment's pods and allows ingress only from the listed clients to
the serving ports, from Prometheus to the metrics port, and from the operator to the
HTTP port where it reads the model's configuration (Triton and torch runtimes, when it
knows its namespace); any other ingress to the pods is denied (a pod selected by a
policy of type Ingress accepts only what a policy allows). Egress is not restricted:
model pods may need object stores, registries and the Hugging Face Hub, whose addresses
a cluster-wide policy knows better.
"""

from __future__ import annotations

from typing import Any

from gpufleet.domain.manifests.context import BuildContext
from gpufleet.domain.manifests.identity import (
    Owner,
    child_metadata,
    common_labels,
    selector_labels,
)
from gpufleet.domain.manifests.server import container_ports
from gpufleet.domain.model_config import serves_model_config
from gpufleet.domain.spec import ModelDeploymentSpec

SAME_NAMESPACE: list[dict[str, Any]] = [{"podSelector": {}}]
"""A peer with only an empty podSelector: every pod in the policy's own namespace."""


def wants_network_policy(spec: ModelDeploymentSpec) -> bool:
    return spec.network_policy is not None


def _ports(names: list[str]) -> list[dict[str, Any]]:
    return [{"port": name, "protocol": "TCP"} for name in names]


def _operator_peer(context: BuildContext) -> dict[str, Any] | None:
    if context.operator_namespace is None:
        return None
    namespace = {"matchLabels": {"kubernetes.io/metadata.name": context.operator_namespace}}
    return {
        "namespaceSelector": namespace,
        "podSelector": {"matchLabels": dict(context.operator_pod_labels)},
    }


def build_network_policy(
    owner: Owner, spec: ModelDeploymentSpec, context: BuildContext | None = None
) -> dict[str, Any]:
    """The NetworkPolicy; call only when :func:`wants_network_policy` (else ValueError)."""
    policy = spec.network_policy
    if policy is None:
        raise ValueError("spec.networkPolicy is not set: no NetworkPolicy is wanted")
    port_names = [p["name"] for p in container_ports(spec.runtime)]
    serving = [name for name in port_names if name != "metrics"]
    clients = [peer.to_wire() for peer in policy.clients] or SAME_NAMESPACE
    ingress = [
        {"from": clients, "ports": _ports(serving)},
        {"from": [peer.to_wire() for peer in policy.prometheus], "ports": _ports(["metrics"])},
    ]
    operator = _operator_peer(context or BuildContext())
    if operator is not None and serves_model_config(spec.runtime):
        # The operator reads the model's largest batch from GET /v2/models/{m}/config.
        ingress.append({"from": [operator], "ports": _ports(["http"])})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": child_metadata(
            owner, common_labels(owner, spec.model.name, spec.runtime.type.value)
        ),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(owner)},
            "policyTypes": ["Ingress"],
            "ingress": ingress,
        },
    }
