"""A small, typed facade over ``kubernetes_asyncio``'s REST client.

Objects are plain dicts (what the API server sends), so manifests built by the
pure domain code go out unchanged, and nothing is lost in model round-trips.
"""

from __future__ import annotations

import json
import os
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config.config_exception import ConfigException

from gpufleet import FIELD_MANAGER, __version__
from gpufleet.k8s.errors import ConflictError, KubernetesApiError, NotFoundError

MERGE_PATCH = "application/merge-patch+json"
USER_AGENT = f"gpufleet/{__version__}"


@dataclass(frozen=True, slots=True)
class Resource:
    """Where a kind lives in the API: ``/apis/{group}/{version}/namespaces/{ns}/{plural}``."""

    group: str
    version: str
    plural: str

    def path(self, namespace: str, name: str | None = None, subresource: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        path = f"{base}/namespaces/{quote(namespace)}/{self.plural}"
        if name is not None:
            path += f"/{quote(name)}"
        if subresource is not None:
            path += f"/{subresource}"
        return path


def _causes(body: Any) -> tuple[str, ...]:
    details = body.get("details") if isinstance(body, dict) else None
    causes = details.get("causes") if isinstance(details, dict) else None
    return tuple(
        str(cause["reason"])
        for cause in causes or ()
        if isinstance(cause, dict) and cause.get("reason")
    )


def _error(exc: ApiException) -> KubernetesApiError:
    reason, message = str(exc.reason or ""), str(exc.body or "")
    causes: tuple[str, ...] = ()
    try:
        body = json.loads(exc.body or "{}")
        reason, message = body.get("reason", reason), body.get("message", message)
        causes = _causes(body)
    except (TypeError, ValueError, AttributeError):
        pass
    status = int(exc.status or 0)
    if status == 404:
        return NotFoundError(status, reason, message)
    if status == 409:
        return ConflictError(status, reason, message)
    return KubernetesApiError(status, reason, message, causes)


class KubernetesApi:
    """Get, create and patch objects as dicts."""

    def __init__(self, api_client: client.ApiClient) -> None:
        # Named in API server audit logs (kopf's own requests say kopf/<version>).
        api_client.user_agent = USER_AGENT
        self._api = api_client

    @classmethod
    async def connect(cls, kubeconfig: Path | None = None) -> KubernetesApi:
        """``kubeconfig`` if given; else in-cluster credentials, else ``$KUBECONFIG``."""
        configuration = client.Configuration()
        if kubeconfig is not None:
            await config.load_kube_config(
                config_file=str(kubeconfig), client_configuration=configuration
            )
            return cls(client.ApiClient(configuration=configuration))
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except ConfigException:
            # Read KUBECONFIG now: the library reads it once, at import time.
            await config.load_kube_config(
                config_file=os.environ.get("KUBECONFIG"), client_configuration=configuration
            )
        return cls(client.ApiClient(configuration=configuration))

    @property
    def api_client(self) -> client.ApiClient:
        """The underlying client, for what dicts cannot do (watch streams)."""
        return self._api

    async def close(self) -> None:
        await self._api.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        query: list[tuple[str, str]] | None = None,
    ) -> dict[str, Any]:
        """One REST call by path; Kubernetes errors as :class:`KubernetesApiError`."""
        try:
            result = await self._api.call_api(
                path,
                method,
                query_params=query or [],
                header_params={"Content-Type": content_type, "Accept": "application/json"},
                body=body,
                response_types_map={200: "object", 201: "object", 202: "object"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
            )
        except ApiException as exc:
            raise _error(exc) from exc
        return dict(result or {})

    async def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self.request("GET", resource.path(namespace, name))
        except NotFoundError:
            return None

    async def list(
        self, resource: Resource, namespace: str, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        query = [("labelSelector", label_selector)] if label_selector else []
        result = await self.request("GET", resource.path(namespace), query=query)
        return list(result.get("items", []))

    async def create(
        self,
        resource: Resource,
        namespace: str,
        body: dict[str, Any],
        *,
        field_manager: str = FIELD_MANAGER,
    ) -> dict[str, Any]:
        return await self.request(
            "POST", resource.path(namespace), body=body, query=[("fieldManager", field_manager)]
        )

    async def merge_patch(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        patch: dict[str, Any],
        *,
        subresource: str | None = None,
        field_manager: str = FIELD_MANAGER,
    ) -> dict[str, Any]:
        return await self.request(
            "PATCH",
            resource.path(namespace, name, subresource),
            body=patch,
            content_type=MERGE_PATCH,
            query=[("fieldManager", field_manager)],
        )

    async def delete(self, resource: Resource, namespace: str, name: str, *, uid: str) -> None:
        """Delete the object if it is still the one with ``uid``; gone already is fine."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": uid}}
        # Gone, or replaced by another object of that name (not ours to delete): done.
        with suppress(NotFoundError, ConflictError):
            await self.request("DELETE", resource.path(namespace, name), body=body)
