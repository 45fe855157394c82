"""The Service in front of the model's pods."""

from __future__ import annotations

from typing import Any

from gpufleet.domain.manifests.identity import (
    Owner,
    child_metadata,
    common_labels,
    selector_labels,
)
from gpufleet.domain.manifests.ports import GRPC_PORT, HTTP_PORT, METRICS_PORT
from gpufleet.domain.manifests.server import serves_grpc
from gpufleet.domain.spec import ModelDeploymentSpec, RuntimeSpec


def _ports(runtime: RuntimeSpec) -> list[dict[str, Any]]:
    http = {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"}
    grpc = {
        "name": "grpc",
        "port": GRPC_PORT,
        "targetPort": "grpc",
        "protocol": "TCP",
        "appProtocol": "grpc",
    }
    metrics = {"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"}
    return [http, grpc, metrics] if serves_grpc(runtime) else [http, metrics]


def build_service(owner: Owner, spec: ModelDeploymentSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": child_metadata(
            owner, common_labels(owner, spec.model.name, spec.runtime.type.value)
        ),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(owner),
            "ports": _ports(spec.runtime),
        },
    }
