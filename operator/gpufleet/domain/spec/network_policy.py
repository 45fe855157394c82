"""``spec.networkPolicy``: who may reach the model pods."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from gpufleet.domain.k8s_shapes import LabelSelector, NetworkPolicyPeer
from gpufleet.domain.wire import WireModel


def _monitoring_namespace() -> list[NetworkPolicyPeer]:
    return [
        NetworkPolicyPeer(
            namespace_selector=LabelSelector(
                match_labels={"kubernetes.io/metadata.name": "monitoring"}
            )
        )
    ]


class NetworkPolicySpec(WireModel):
    """Who may reach the model pods; set, the operator owns a NetworkPolicy that allows
    only these peers, and its own pods to the HTTP port where it reads the model's
    configuration (and denies every other ingress to the pods)."""

    clients: Annotated[
        list[NetworkPolicyPeer],
        Field(
            default_factory=list,
            max_length=32,
            description=(
                "Who may call the model (its http and grpc ports): a gateway, an "
                "application's pods or namespaces. Empty: pods in the ModelDeployment's "
                "own namespace."
            ),
        ),
    ]
    prometheus: Annotated[
        list[NetworkPolicyPeer],
        Field(
            default_factory=_monitoring_namespace,
            max_length=8,
            description=(
                "Who scrapes the metrics port: the Prometheus the operator queries. "
                "Default: any pod in the namespace named monitoring."
            ),
            # In the CRD too, so the stored object shows whom the policy lets in (pydantic
            # leaves a default_factory out of the schema).
            json_schema_extra={"default": [p.to_wire() for p in _monitoring_namespace()]},
        ),
    ]
