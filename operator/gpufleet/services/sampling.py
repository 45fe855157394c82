"""One fleet-wide metrics sample per tick, shared by every ModelDeployment's timer.

The autoscaler queries Prometheus once per signal per tick for the whole fleet;
each ModelDeployment's timer then reads its slice. The first timer of a tick runs
the queries; the others await the same result.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from gpufleet.domain.scaling.types import Observations


class FleetSample(Protocol):
    def observations(
        self, namespace: str, name: str, expected_pods: int | None
    ) -> Observations: ...


class MetricsSource(Protocol):
    async def sample(self) -> FleetSample: ...


class TickSampler:
    """Caches the last :class:`FleetSample` for ``max_age`` seconds."""

    def __init__(self, source: MetricsSource, max_age: float) -> None:
        self._source = source
        self._max_age = max_age
        self._lock = asyncio.Lock()
        self._sample: FleetSample | None = None
        self._taken_at = float("-inf")

    async def latest(self) -> FleetSample:
        async with self._lock:
            if self._sample is None or time.monotonic() - self._taken_at >= self._max_age:
                self._sample = await self._source.sample()
                self._taken_at = time.monotonic()
            return self._sample
