"""What the operator asked the API emulator for, as RBAC would have to grant it."""

from __future__ import annotations

from gpufleet.k8s.client import USER_AGENT
from gpufleet.k8s.permissions import WatchScope, grants
from gpufleet_devtools.apiserver.server import EmulatedApiServer

Grant = tuple[str, str, str]  # (apiGroup, resource, verb)
OPERATOR_CLIENTS = ("kopf/", USER_AGENT)
"""User agents of the operator's two clients: kopf's, and gpufleet.k8s.client's."""


def operator_requests(server: EmulatedApiServer) -> set[Grant]:
    return {
        (access.api_group, access.resource, access.verb)
        for access in server.handler.accesses
        if access.user_agent.startswith(OPERATOR_CLIENTS)
    }


def assert_granted(server: EmulatedApiServer, scope: WatchScope) -> None:
    """Fail on any request the operator made that the chart's RBAC would refuse."""
    refused = operator_requests(server) - grants(scope)
    assert not refused, (
        f"the operator requested what its RBAC does not grant ({scope} scope): "
        f"{sorted(refused)}; add it to gpufleet.k8s.permissions and the chart"
    )
