"""Once a second: what the load generator saw and what the fleet reported."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gpufleet import GROUP, PLURAL, VERSION
from gpufleet_devtools.local.kube import LocalKube, deployments_path
from gpufleet_devtools.local.loadgen import LoadGenerator, RequestRecord

log = logging.getLogger(__name__)
LATENCY_WINDOW_S = 5.0
SAMPLE_EVERY_S = 1.0
MAX_RATE_SCAN = 5000
"""Requests sent in the last second are among the last few thousand sent."""


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


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def condition_status(obj: dict[str, Any] | None, type_: str) -> str:
    for condition in ((obj or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") == type_:
            return str(condition.get("status", "Unknown"))
    return "Unknown"


def client_window(
    sent_at: Sequence[float], records: Sequence[RequestRecord], now: float
) -> tuple[float, float, float | None]:
    """(sent/s over the last second, ok/s over the last second, p95 ms over the window)."""
    sent = sum(now - 1.0 <= at < now for at in sent_at[-MAX_RATE_SCAN:])
    finished = [
        r for r in records if r.ok and now - LATENCY_WINDOW_S <= r.sent_s + r.latency_s < now
    ]
    ok = sum(now - 1.0 <= r.sent_s + r.latency_s for r in finished)
    p95 = percentile([r.latency_s * 1000 for r in finished], 0.95)
    return float(sent), float(ok), p95


class Timeline:
    def __init__(self, kube: LocalKube, namespace: str, name: str, loadgen: LoadGenerator) -> None:
        self._kube = kube
        self._namespace = namespace
        self._name = name
        self._loadgen = loadgen
        self.samples: list[Sample] = []
        self.modeldeployment: dict[str, Any] | None = None
        self.listeners: list[Callable[[Sample], None]] = []

    async def sample(self) -> Sample:
        now = self._loadgen.elapsed()
        records = list(self._loadgen.records)
        sent, ok, p95 = client_window(self._loadgen.sent_at, records, now)
        md_path = f"/apis/{GROUP}/{VERSION}/namespaces/{self._namespace}/{PLURAL}/{self._name}"
        md = await self._kube.get(md_path)
        deployment = await self._kube.get(deployments_path(self._namespace, self._name))
        self.modeldeployment = md or self.modeldeployment
        status = (md or {}).get("status") or {}
        dep_status = (deployment or {}).get("status") or {}
        replicas = int(dep_status.get("replicas") or 0)
        ready = int(dep_status.get("readyReplicas") or 0)
        sample = Sample(
            t=now,
            sent_rps=sent,
            ok_rps=ok,
            failed_total=sum(not r.ok for r in records),
            in_flight=self._loadgen.in_flight,
            p95_ms=p95,
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
