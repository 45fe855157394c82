"""The chart grants exactly gpufleet.k8s.permissions.OPERATOR_PERMISSIONS, no more, no less.

(The table itself is checked against what the operator requests from the API emulator:
tests/operator/test_rbac_matches_use.py.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gpufleet.k8s.permissions import WatchScope, grants

from .render import NAMESPACE, RELEASE, Rendered, render

Grant = tuple[str, str, str]  # (apiGroup, resource, verb)


def _expected(*, cluster_wide: bool) -> set[Grant]:
    """The table, as single grants, for the watch scope."""
    return grants(WatchScope.CLUSTER if cluster_wide else WatchScope.NAMESPACED)


def _granted(role: dict[str, Any]) -> set[Grant]:
    grants: set[Grant] = set()
    for rule in role["rules"]:
        assert "resourceNames" not in rule, rule
        assert "nonResourceURLs" not in rule, rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    assert "*" not in (group, resource, verb), f"wildcard grant in {rule}"
                    grants.add((group, resource, verb))
    return grants


def _bound_to_operator(rendered: Rendered, binding: dict[str, Any], role: dict[str, Any]) -> None:
    assert binding["roleRef"]["kind"] == role["kind"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    service_account = rendered.pod_spec()["serviceAccountName"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": service_account, "namespace": NAMESPACE}
    ]


@pytest.mark.parametrize(
    ("watch", "namespaces"),
    [({}, [NAMESPACE]), ({"namespaces": ["team-a", "team-b"]}, ["team-a", "team-b"])],
)
def test_namespaced_scope_grants_the_table_per_watched_namespace(
    chart_dir: Path, watch: dict[str, Any], namespaces: list[str]
) -> None:
    rendered = render(chart_dir, {"watch": watch})
    assert not rendered.of_kind("ClusterRole")
    assert not rendered.of_kind("ClusterRoleBinding")
    roles = {r["metadata"]["namespace"]: r for r in rendered.of_kind("Role")}
    bindings = {b["metadata"]["namespace"]: b for b in rendered.of_kind("RoleBinding")}
    assert sorted(roles) == sorted(bindings) == sorted(namespaces)
    for namespace in namespaces:
        assert _granted(roles[namespace]) == _expected(cluster_wide=False)
        _bound_to_operator(rendered, bindings[namespace], roles[namespace])


def test_cluster_scope_grants_the_whole_table_in_one_cluster_role(chart_dir: Path) -> None:
    rendered = render(chart_dir, {"watch": {"scope": "Cluster"}})
    assert not rendered.of_kind("Role")
    assert not rendered.of_kind("RoleBinding")
    role = rendered.one("ClusterRole")
    assert _granted(role) == _expected(cluster_wide=True)
    _bound_to_operator(rendered, rendered.one("ClusterRoleBinding"), role)


def test_rbac_can_be_left_to_the_platform(chart_dir: Path) -> None:
    rendered = render(
        chart_dir, {"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "ops"}}
    )
    assert not rendered.kinds & {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}
    assert "ServiceAccount" not in rendered.kinds
    assert rendered.pod_spec()["serviceAccountName"] == "ops"


def test_object_names_follow_the_release(chart_dir: Path) -> None:
    rendered = render(chart_dir, {"watch": {"scope": "Cluster"}})
    assert rendered.one("ClusterRole")["metadata"]["name"] == RELEASE


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, [NAMESPACE]),
        ({"watch": {"namespaces": ["team-a", "team-b"]}}, ["team-a", "team-b"]),
        ({"watch": {"scope": "Cluster"}}, []),
    ],
)
def test_operator_watches_exactly_where_it_is_allowed(
    chart_dir: Path, values: dict[str, Any], expected: list[str]
) -> None:
    """kopf runs cluster-wide without --namespace; that needs the ClusterRole."""
    rendered = render(chart_dir, values)
    flags = [
        a.split("=", 1)[1] for a in rendered.container()["args"] if a.startswith("--namespace=")
    ]
    assert flags == expected
    assert sorted(r["metadata"]["namespace"] for r in rendered.of_kind("Role")) == sorted(expected)
    assert bool(rendered.of_kind("ClusterRole")) == (not expected)
