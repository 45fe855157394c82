"""The agent's and load generator's Kubernetes client: dicts in, dicts out, one kubeconfig."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, watch

from gpufleet.k8s.client import MERGE_PATCH, KubernetesApi
from gpufleet.k8s.errors import NotFoundError

FIELD_MANAGER = "gpufleet-local-agent"
WATCH_TIMEOUT_S = 300


class LocalKube:
    """Path-based access for the agent and the load generator, over the operator's facade."""

    def __init__(self, api: KubernetesApi) -> None:
        self._api = api

    @classmethod
    async def connect(cls, kubeconfig: Path) -> LocalKube:
        return cls(await KubernetesApi.connect(kubeconfig))

    async def close(self) -> None:
        await self._api.close()

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        query: list[tuple[str, str]] | None = None,
    ) -> dict[str, Any]:
        return await self._api.request(
            method, path, body=body, content_type=content_type, query=query
        )

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self.call("POST", path, body, query=[("fieldManager", FIELD_MANAGER)])

    async def merge_patch(self, path: str, patch: dict[str, Any]) -> dict[str, Any]:
        return await self.call(
            "PATCH", path, patch, MERGE_PATCH, query=[("fieldManager", FIELD_MANAGER)]
        )

    async def delete(self, path: str) -> None:
        with contextlib.suppress(NotFoundError):  # already gone is what we wanted
            await self.call("DELETE", path)

    async def get(self, path: str) -> dict[str, Any] | None:
        try:
            return await self.call("GET", path)
        except NotFoundError:
            return None

    async def list(self, path: str, label_selector: str = "") -> list[dict[str, Any]]:
        query = [("labelSelector", label_selector)] if label_selector else []
        return list((await self.call("GET", path, query=query)).get("items") or [])

    async def watch_deployments(self, label_selector: str) -> AsyncIterator[tuple[str, Any]]:
        """(event type, Deployment dict) for Deployments in every namespace, until it ends.

        A fresh ``Watch`` each time: one reused after an error re-sends stale arguments.
        """
        apps = client.AppsV1Api(self._api.api_client)
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


def pods_path(namespace: str, name: str | None = None, sub: str | None = None) -> str:
    return _path("/api/v1", namespace, "pods", name, sub)


def events_path(namespace: str) -> str:
    return _path("/api/v1", namespace, "events", None, None)


def deployments_path(namespace: str, name: str | None = None, sub: str | None = None) -> str:
    return _path("/apis/apps/v1", namespace, "deployments", name, sub)


def _path(base: str, namespace: str, plural: str, name: str | None, sub: str | None) -> str:
    path = f"{base}/namespaces/{namespace}/{plural}"
    if name:
        path += f"/{name}"
    if sub:
        path += f"/{sub}"
    return path
