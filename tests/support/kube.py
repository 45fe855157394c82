"""A small synchronous Kubernetes REST client for tests (what kubectl would do)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from gpufleet.domain.conditions import find_condition


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str

    def path(self, namespace: str, name: str | None = None, sub: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        path = f"{base}/namespaces/{namespace}/{self.plural}"
        if name:
            path += f"/{name}"
        if sub:
            path += f"/{sub}"
        return path


MODELDEPLOYMENTS = Kind("gpufleet.io", "v1alpha1", "modeldeployments")
DEPLOYMENTS = Kind("apps", "v1", "deployments")
SERVICES = Kind("", "v1", "services")
PDBS = Kind("policy", "v1", "poddisruptionbudgets")
EVENTS = Kind("", "v1", "events")


class Kube:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()

    def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        response = self.session.get(self.url + kind.path(namespace, name), timeout=10)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return dict(response.json())

    def list(self, kind: Kind, namespace: str) -> list[dict[str, Any]]:
        response = self.session.get(self.url + kind.path(namespace), timeout=10)
        response.raise_for_status()
        return list(response.json().get("items", []))

    def create(self, kind: Kind, namespace: str, body: dict[str, Any]) -> requests.Response:
        return self.session.post(self.url + kind.path(namespace), json=body, timeout=10)

    def merge_patch(
        self, kind: Kind, namespace: str, name: str, patch: dict[str, Any], sub: str | None = None
    ) -> requests.Response:
        return self.session.patch(
            self.url + kind.path(namespace, name, sub),
            json=patch,
            headers={"Content-Type": "application/merge-patch+json"},
            timeout=10,
        )

    def delete(self, kind: Kind, namespace: str, name: str) -> requests.Response:
        return self.session.delete(self.url + kind.path(namespace, name), timeout=10)


def modeldeployment(name: str, spec: dict[str, Any], namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "gpufleet.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    found = find_condition(((obj or {}).get("status") or {}).get("conditions"), type_)
    return None if found is None else dict(found)
