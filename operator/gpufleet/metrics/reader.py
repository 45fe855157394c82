"""Read the whole fleet's metrics from Prometheus: a fixed set of queries per tick.

Usage, once per autoscaling tick::

    reader = FleetMetricsReader(settings)
    sample = await reader.sample()               # len(QUERIES) queries, concurrent
    obs = sample.observations(namespace, name, expected_pods=ready_replicas)
    value = await reader.activation(promql)      # one per ModelDeployment that sets one

prometheus-api-client is synchronous, so each query runs in a worker thread.
Every query of a tick is evaluated at the same instant (``time=``), so the
signals of one sample are mutually consistent.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from gpufleet.metrics.auth import prometheus_auth, prometheus_session
from gpufleet.metrics.queries import Signal, build_queries
from gpufleet.metrics.sample import FLEET_WIDE, FleetKey, FleetSample, PerPod, SignalResult
from gpufleet.settings import MetricLabels, OperatorSettings

DISCOVERY_DELAY_S = 5.0
"""Prometheus's discovery manager hands new targets to the scrapers at most every 5 s
(its fixed update throttle), whatever the scrape interval."""
WARM_UP_SCRAPES = 2
"""Then a new target's first scrape comes within one interval (scrape offsets are spread
over it); one more interval of slack for a slow first scrape."""


def fleet_sample(
    settings: OperatorSettings,
    at: float,
    signals: dict[Signal, SignalResult],
    unreachable: str | None = None,
) -> FleetSample:
    """One tick's query results, with what Prometheus's scraping under ``settings`` says
    of a new pod: how long it may go unscraped, and how many scrapes span the rate window
    (the operator's reader and the simulator's hand the policy the same)."""
    interval = settings.scrape_interval_seconds
    return FleetSample(
        at=at,
        stale_after_seconds=settings.stale_after_seconds,
        signals=signals,
        unreachable=unreachable,
        warm_up_seconds=DISCOVERY_DELAY_S + WARM_UP_SCRAPES * interval,
        window_scrapes=math.floor(settings.rate_window_seconds / interval),
        rate_window_seconds=settings.rate_window_seconds,
    )


@dataclass(frozen=True, slots=True)
class ActivationValue:
    """The value of a scale-from-zero activation query, or why it is unknown."""

    value: float | None
    error: str | None = None


class FleetMetricsReader:
    def __init__(self, settings: OperatorSettings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._labels = settings.labels
        self._queries = build_queries(settings.labels, settings.rate_window_seconds)
        self._clock = clock
        # No retries: a tick that cannot read Prometheus reports "unknown" now and
        # tries again next tick, instead of stalling the operator in back-offs.
        self._client = PrometheusConnect(
            url=settings.prometheus_url,
            retry=Retry(total=0),
            timeout=math.ceil(settings.query_timeout_seconds),
            session=prometheus_session(settings),
            auth=prometheus_auth(settings),
        )
        self.queries_sent = 0
        """Queries issued since start (the benchmark and tests check it per tick)."""

    @property
    def queries(self) -> dict[Signal, str]:
        return dict(self._queries)

    async def sample(self) -> FleetSample:
        at = self._clock()
        self.queries_sent += len(self._queries)
        results = await asyncio.gather(
            *(asyncio.to_thread(self._run, promql, at) for promql in self._queries.values())
        )
        signals = dict(zip(self._queries, results, strict=True))
        errors = [r.error for r in results if r.error is not None]
        unreachable = errors[0] if errors and len(errors) == len(results) else None
        return fleet_sample(self._settings, at, signals, unreachable)

    async def activation(self, promql: str) -> ActivationValue:
        """A user's activation query (scale from zero), summed over its series.

        An empty result is unknown, not zero: the series may be missing because its
        exporter is down. Write ``sum(...) or vector(0)`` where absence means idle.
        """
        self.queries_sent += 1
        return await asyncio.to_thread(self._activation, promql, self._clock())

    def _activation(self, promql: str, at: float) -> ActivationValue:
        try:
            raw = self._client.custom_query(promql, params={"time": f"{at:.3f}"})
        except (requests.RequestException, PrometheusApiClientException, ValueError) as exc:
            return ActivationValue(None, f"activation query failed: {_short_error(exc)}")
        values = _activation_values(raw)
        if not values:
            return ActivationValue(None, "activation query returned no series")
        if not all(math.isfinite(v) for v in values):
            return ActivationValue(None, "activation query returned NaN/Inf")
        return ActivationValue(sum(values))

    def _run(self, promql: str, at: float) -> SignalResult:
        try:
            raw = self._client.custom_query(promql, params={"time": f"{at:.3f}"})
        except (requests.RequestException, PrometheusApiClientException, ValueError) as exc:
            return SignalResult(error=_short_error(exc))
        return SignalResult(values=parse_vector(raw, self._labels))


def _activation_values(raw: Any) -> list[float]:
    """Values of an instant vector, or of a scalar (``[time, "value"]``)."""
    try:
        if isinstance(raw, list) and len(raw) == 2 and not isinstance(raw[0], dict):
            return [float(raw[1])]
        return [float(series["value"][1]) for series in raw]
    except (KeyError, IndexError, TypeError, ValueError):
        return [math.nan]


def parse_vector(raw: list[dict[str, Any]], labels: MetricLabels) -> dict[FleetKey, PerPod]:
    """An instant vector as {(namespace, modeldeployment): {pod: value}}.

    A series without the pod label is the ModelDeployment's fleet-wide value (key
    ``FLEET_WIDE``). Prometheus encodes NaN/Inf as the strings "NaN", "+Inf";
    ``float`` parses them, and the aggregation treats them as unknown.
    """
    out: dict[FleetKey, PerPod] = {}
    for series in raw:
        metric = series.get("metric", {})
        key = (metric.get(labels.namespace, ""), metric.get(labels.modeldeployment, ""))
        pod = metric.get(labels.pod, FLEET_WIDE)
        try:
            value = float(series["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            value = math.nan
        out.setdefault(key, {})[pod] = value
    return out


def _short_error(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 200 else text[:197] + "..."
