"""The local fleet's Kubernetes access: the operator's client (:class:`KubernetesApi`),
the kinds the node agent writes, and the one call the operator never makes: a watch of
Deployments in every namespace."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from kubernetes_asyncio import client, watch

from gpufleet.k8s.client import KubernetesApi, Resource

PODS = Resource("", "v1", "pods")
EVENTS = Resource("", "v1", "events")
DEPLOYMENTS = Resource("apps", "v1", "deployments")
LOCAL_FIELD_MANAGER = "gpufleet-local-agent"
"""Who the local fleet's writes (pods, their status, the demo's ModelDeployment) name:
not the operator."""
WATCH_TIMEOUT_S = 300


async def watch_deployments(
    api: KubernetesApi, label_selector: str
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(event type, Deployment dict) for Deployments in every namespace, until it ends.

    A fresh ``Watch`` each time: one reused after an error re-sends stale arguments.
    """
    apps = client.AppsV1Api(api.api_client)
    stream = watch.Watch()
    try:
        async for event in stream.stream(
            apps.list_deployment_for_all_namespaces,
            label_selector=label_selector,
            timeout_seconds=WATCH_TIMEOUT_S,
        ):
            yield str(event["type"]), _as_dict(event["raw_object"])
    finally:
        stream.stop()


def _as_dict(raw: Any) -> dict[str, Any]:
    return dict(json.loads(raw) if isinstance(raw, str | bytes) else raw)
