"""Every Kubernetes API permission the operator needs, in one table.

The Kubernetes access layer (this package) and kopf use exactly these; the Helm
chart's RBAC is tested against this table, so least privilege is checked, not
hoped for. Add a row here whenever code starts using a new verb or resource.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Permission:
    api_group: str
    resource: str
    verbs: frozenset[str]
    why: str
    cluster_scoped: bool = False


def _v(*verbs: str) -> frozenset[str]:
    return frozenset(verbs)


OPERATOR_PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        "gpufleet.io",
        "modeldeployments",
        _v("get", "list", "watch", "patch"),
        "kopf watches ModelDeployments; finalizers and progress annotations are patched",
    ),
    Permission(
        "gpufleet.io",
        "modeldeployments/status",
        _v("get", "patch", "update"),
        "status, conditions and scaling decisions",
    ),
    Permission(
        "apps",
        "deployments",
        _v("get", "list", "watch", "create", "patch", "delete"),
        "the model's pods; replicas are patched by the autoscaler",
    ),
    Permission(
        "",
        "services",
        _v("get", "list", "watch", "create", "patch", "delete"),
        "http/grpc/metrics endpoints of the model",
    ),
    Permission(
        "policy",
        "poddisruptionbudgets",
        _v("get", "list", "watch", "create", "patch", "delete"),
        "keeps serving capacity during node drains",
    ),
    Permission("", "events", _v("create", "patch"), "every decision is explained in Events"),
    Permission("events.k8s.io", "events", _v("create", "patch"), "kopf may post events.k8s.io/v1"),
    Permission(
        "kopf.dev",
        "kopfpeerings",
        _v("get", "list", "watch", "patch"),
        "kopf peering: one active operator per namespace",
    ),
    Permission(
        "kopf.dev",
        "clusterkopfpeerings",
        _v("get", "list", "watch", "patch"),
        "kopf peering in cluster-wide mode",
        cluster_scoped=True,
    ),
    Permission(
        "",
        "namespaces",
        _v("get", "list", "watch"),
        "kopf discovers namespaces in cluster-wide mode",
        cluster_scoped=True,
    ),
    Permission(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        _v("get", "list", "watch"),
        "kopf scans CRDs to find the resources it serves",
        cluster_scoped=True,
    ),
)
