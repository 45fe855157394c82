"""Once a second: what the load generator saw and what the fleet reported."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gpufleet.k8s.client import KubernetesApi
from gpufleet.services.status import MODELDEPLOYMENTS
from gpufleet_devtools.local.clientwindow import LoadClient
from gpufleet_devtools.local.kube import DEPLOYMENTS

log = logging.getLogger(__name__)
SAMPLE_EVERY_S = 1.0
KvProbe = Callable[[], Awaitable[float | None]]


@dataclass(frozen=True, slots=True)
class Sample:
    t: float
    sent_rps: float
    ok_rps: float
    failed_total: int
    in_flight: int
    p95_ms: float | None
    """Client-side p95 of requests that finished in the last ``LATENCY_WINDOW_S``."""
    desired: int | None
    ready: int
    starting: int
    queue_depth: float | None
    hourly_cost: float | None
    reason: str
    metrics_available: str
    ttft_p95_ms: float | None = None
    """LLM: client-side p95 time to first token over the last ``LATENCY_WINDOW_S``."""
    itl_p95_ms: float | None = None
    """LLM: client-side p95 inter-token gap over the last ``LATENCY_WINDOW_S``."""
    tokens_per_s: float | None = None
    """LLM: tokens the clients received in the last second."""
    kv_cache_usage: float | None = None
    """LLM: the fullest pod's KV cache (vllm:kv_cache_usage_perc, 0..1), from Prometheus."""


def condition_status(obj: dict[str, Any] | None, type_: str) -> str:
    for condition in ((obj or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") == type_:
            return str(condition.get("status", "Unknown"))
    return "Unknown"


class Timeline:
    def __init__(
        self,
        kube: KubernetesApi,
        namespace: str,
        name: str,
        client: LoadClient,
        kv_probe: KvProbe | None = None,
    ) -> None:
        self._kube = kube
        self._namespace = namespace
        self._name = name
        self._client = client
        self._kv_probe = kv_probe
        self.samples: list[Sample] = []
        self.modeldeployment: dict[str, Any] | None = None
        self.listeners: list[Callable[[Sample], None]] = []

    async def sample(self) -> Sample:
        now = self._client.elapsed()
        seen = self._client.window(now)
        md = await self._kube.get(MODELDEPLOYMENTS, self._namespace, self._name)
        deployment = await self._kube.get(DEPLOYMENTS, self._namespace, self._name)
        self.modeldeployment = md or self.modeldeployment
        status = (md or {}).get("status") or {}
        dep_status = (deployment or {}).get("status") or {}
        replicas = int(dep_status.get("replicas") or 0)
        ready = int(dep_status.get("readyReplicas") or 0)
        sample = Sample(
            t=now,
            sent_rps=seen.sent_rps,
            ok_rps=seen.ok_rps,
            failed_total=seen.failed_total,
            in_flight=seen.in_flight,
            p95_ms=seen.p95_ms,
            desired=((deployment or {}).get("spec") or {}).get("replicas"),
            ready=ready,
            starting=max(0, replicas - ready),
            queue_depth=status.get("queueDepth"),
            hourly_cost=status.get("hourlyCost"),
            # The latest decision's sentence (hold or scale), else the last scale's.
            reason=str(
                (status.get("decision") or {}).get("reason") or status.get("lastScaleReason") or ""
            ),
            metrics_available=condition_status(md, "MetricsAvailable"),
            ttft_p95_ms=seen.ttft_p95_ms,
            itl_p95_ms=seen.itl_p95_ms,
            tokens_per_s=seen.tokens_per_s,
            kv_cache_usage=await self._kv_probe() if self._kv_probe is not None else None,
        )
        self.samples.append(sample)
        for listener in self.listeners:
            listener(sample)
        return sample

    async def follow(self) -> None:
        """Sample every second until cancelled."""
        while True:
            try:
                await self.sample()
            except Exception as error:  # a slow API must not end the demo
                log.debug("sampling failed: %s", error)
            await asyncio.sleep(SAMPLE_EVERY_S)

    async def run_while(self, work: asyncio.Task[Any]) -> None:
        follower = asyncio.create_task(self.follow())
        try:
            await asyncio.wait({work})
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
