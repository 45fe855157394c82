"""Every Kubernetes API permission the operator needs, in one table.

The Kubernetes access layer (this package) and kopf use exactly these. Two tests keep
it honest: the operator tests record every request the operator makes to the API
emulator and fail on one this table does not grant, and a scenario that exercises
every path checks that each row is used (tests/operator/test_rbac_matches_use.py);
the Helm chart's RBAC is compared with this table (tests/chart/test_rbac.py). Add a
row here whenever code starts using a new verb or resource.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class WatchScope(StrEnum):
    """The chart's ``watch.scope``: a Role per namespace, or one ClusterRole."""

    NAMESPACED = "Namespaced"
    CLUSTER = "Cluster"


BOTH = frozenset(WatchScope)


@dataclass(frozen=True, slots=True)
class Permission:
    api_group: str
    resource: str
    verbs: frozenset[str]
    why: str
    scopes: frozenset[WatchScope] = BOTH
    """The watch scopes in which the operator uses it."""


def _v(*verbs: str) -> frozenset[str]:
    return frozenset(verbs)


OPERATOR_PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        "gpufleet.io",
        "modeldeployments",
        _v("get", "list", "watch", "patch"),
        "kopf watches ModelDeployments and patches its annotations; status writes re-read them",
    ),
    Permission(
        "gpufleet.io",
        "modeldeployments/status",
        _v("patch"),
        "status, conditions and scaling decisions (merge patches only)",
    ),
    Permission(
        "apps",
        "deployments",
        _v("get", "list", "watch", "create", "patch"),
        "the model's pods; the autoscaler patches replicas; garbage collection deletes",
    ),
    Permission(
        "",
        "services",
        _v("get", "list", "watch", "create", "patch"),
        "http/grpc/metrics endpoints of the model",
    ),
    Permission(
        "policy",
        "poddisruptionbudgets",
        _v("get", "list", "watch", "create", "patch"),
        "keeps serving capacity during node drains",
    ),
    Permission(
        "networking.k8s.io",
        "networkpolicies",
        _v("get", "list", "watch", "create", "patch", "delete"),
        "the optional NetworkPolicy of the model pods; deleted when the spec drops it",
    ),
    Permission(
        "",
        "pods",
        _v("list", "watch"),
        "pods that cannot be placed or crash-loop, and when each became ready",
    ),
    Permission("", "events", _v("create"), "every decision is explained in Events"),
    Permission(
        "kopf.dev",
        "kopfpeerings",
        _v("list", "watch", "patch"),
        "kopf peering of namespaced operators (docs/high-availability.md)",
        scopes=frozenset({WatchScope.NAMESPACED}),
    ),
    Permission(
        "kopf.dev",
        "clusterkopfpeerings",
        _v("list", "watch", "patch"),
        "kopf peering of cluster-wide operators (docs/high-availability.md)",
        scopes=frozenset({WatchScope.CLUSTER}),
    ),
)


def grants(scope: WatchScope) -> set[tuple[str, str, str]]:
    """The table as single ``(apiGroup, resource, verb)`` grants for one watch scope."""
    return {
        (p.api_group, p.resource, verb)
        for p in OPERATOR_PERMISSIONS
        if scope in p.scopes
        for verb in p.verbs
    }
