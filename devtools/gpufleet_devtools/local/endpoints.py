"""Ready endpoints of a ModelDeployment, as a Service would route: Ready pods only."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import Any

from gpufleet.domain.manifests.identity import OWNER_LABEL
from gpufleet.domain.pods import http_address
from gpufleet.k8s.client import KubernetesApi
from gpufleet_devtools.local.kube import PODS

log = logging.getLogger(__name__)
REFRESH_S = 0.25
"""Well under the agent's drain delay: a pod leaving rotation gets no new request."""


def ready_http_endpoint(pod: dict[str, Any]) -> str | None:
    status = pod.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    if not ready or (pod.get("metadata") or {}).get("deletionTimestamp"):
        return None
    # The address the operator asks for the model's configuration: the same pod, the same port.
    return http_address(pod)


class Endpoints:
    """Round-robin over the ready pods, re-read every ``REFRESH_S``."""

    def __init__(self, kube: KubernetesApi, namespace: str, modeldeployment: str) -> None:
        self._kube = kube
        self._namespace = namespace
        self._selector = f"{OWNER_LABEL}={modeldeployment}"
        self.current: list[str] = []
        self._cycle: itertools.cycle[str] = itertools.cycle([])
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        pods = await self._kube.list(PODS, self._namespace, self._selector)
        found = sorted(e for e in map(ready_http_endpoint, pods) if e)
        if found != self.current:
            self.current = found
            self._cycle = itertools.cycle(found)

    def next(self) -> str | None:
        return next(self._cycle, None)

    async def _follow(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as error:  # keep the last known endpoints meanwhile
                log.debug("endpoint refresh failed: %s", error)
            await asyncio.sleep(REFRESH_S)

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="gpufleet-local-endpoints")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
