"""One fleet-wide metrics sample per tick, shared by every ModelDeployment's timer.

The autoscaler reads Prometheus once per tick for the whole fleet (one query, every
signal); each ModelDeployment's timer then reads its slice. The first timer of a tick
runs the query; the others await the same result. A ModelDeployment's own activation
query (scale from zero) cannot be shared: it runs once per tick in its own timer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Protocol, runtime_checkable

from gpufleet.domain.scaling.types import Observations


class FleetSample(Protocol):
    """What the autoscaler reads of a tick's :class:`gpufleet.metrics.sample.FleetSample`:
    the same concept, so the same name; the sampler needs only its ``observations``."""

    def observations(
        self,
        namespace: str,
        name: str,
        expected_pods: int | None,
        ready_since: Mapping[str, float] | None = None,
        model: str | None = None,
    ) -> Observations: ...


class Activation(Protocol):
    @property
    def value(self) -> float | None: ...
    @property
    def error(self) -> str | None: ...


class MetricsSource(Protocol):
    async def sample(self) -> FleetSample: ...


@runtime_checkable
class ActivationSource(Protocol):
    async def activation(self, promql: str) -> Activation: ...


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

    async def observations(
        self,
        namespace: str,
        name: str,
        expected_pods: int | None,
        ready_since: Mapping[str, float] | None = None,
        activation_query: str | None = None,
        model: str | None = None,
    ) -> Observations:
        """This tick's observations of one ModelDeployment.

        ``ready_since``: its ready pods' names and when each became ready (Unix
        seconds), so a pod too new to have been scraped is not taken for lost metrics.
        ``activation_query``: the spec's ``scaling.activation.query``, evaluated now.
        ``model``: the model clients call (``spec.model.name``): of a Triton pod that
        exports several models' metrics (an ensemble and its composing models), that
        model's are read.
        """
        sample = await self.latest()
        obs = sample.observations(namespace, name, expected_pods, ready_since, model)
        if activation_query is None:
            return obs
        if not isinstance(self._source, ActivationSource):
            reason = "this metrics source evaluates no activation queries"
            return replace(obs, unknown={**obs.unknown, "activation": reason})
        activation = await self._source.activation(activation_query)
        if activation.value is None:
            reason = activation.error or "activation query returned nothing"
            return replace(obs, activation=None, unknown={**obs.unknown, "activation": reason})
        return replace(obs, activation=activation.value)
