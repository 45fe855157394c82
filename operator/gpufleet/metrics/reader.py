"""Read the whole fleet's metrics from Prometheus: one query per tick.

Usage, once per autoscaling tick::

    reader = FleetMetricsReader(settings)
    sample = await reader.sample()               # one query for every signal and pod
    obs = sample.observations(namespace, name, expected_pods=ready_replicas)
    value = await reader.activation(promql)      # one per ModelDeployment that sets one

Every signal is read in one query (``queries.tick_query``), so the signals of a sample
describe the same scrapes (why, in ``gpufleet.metrics.queries``). Queries are POSTed,
form-encoded: the tick's query is several kB, more than some proxies take in a URL.
HTTP is synchronous (requests), so each query runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import requests

from gpufleet.metrics.auth import prometheus_auth, prometheus_session
from gpufleet.metrics.queries import MODEL_LABEL, SIGNAL_LABEL, Signal, build_queries, tick_query
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
    read_error: str | None = None,
) -> FleetSample:
    """One tick's query results, with what Prometheus's scraping under ``settings`` says
    of a new pod: how long it may go unscraped, and when its series spans the rate window
    (the operator's reader and the simulator's hand the policy the same)."""
    interval = settings.scrape_interval_seconds
    return FleetSample(
        at=at,
        stale_after_seconds=settings.stale_after_seconds,
        signals=signals,
        read_error=read_error,
        warm_up_seconds=DISCOVERY_DELAY_S + WARM_UP_SCRAPES * interval,
        rate_window_seconds=settings.rate_window_seconds,
        scrape_interval_seconds=interval,
    )


@dataclass(frozen=True, slots=True)
class ActivationValue:
    """The value of a scale-from-zero activation query, or why it is unknown."""

    value: float | None
    error: str | None = None


class PrometheusReadError(Exception):
    """Prometheus could not be asked, or did not answer with a result; the message says why."""


class FleetMetricsReader:
    def __init__(self, settings: OperatorSettings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._labels = settings.labels
        self._queries = build_queries(
            settings.labels, settings.rate_window_seconds, settings.namespaces
        )
        self._tick_query = tick_query(self._queries)
        self._clock = clock
        self._url = settings.prometheus_url.rstrip("/") + "/api/v1/query"
        # No retries (requests' default): a tick that cannot read Prometheus reports
        # "unknown" now and tries again next tick, instead of stalling in back-offs.
        self._session = prometheus_session(settings)
        self._auth = prometheus_auth(settings)
        self.queries_sent = 0
        """Queries issued since start (the benchmark and tests check it per tick)."""

    @property
    def queries(self) -> dict[Signal, str]:
        """Each signal's PromQL, as the tick's one query asks it."""
        return dict(self._queries)

    async def sample(self) -> FleetSample:
        at = self._clock()
        self.queries_sent += 1
        try:
            raw = await asyncio.to_thread(self._query, self._tick_query, at)
        except PrometheusReadError as exc:
            return fleet_sample(self._settings, at, {}, read_error=str(exc))
        return fleet_sample(self._settings, at, split_by_signal(raw, self._labels, self._queries))

    async def activation(self, promql: str) -> ActivationValue:
        """A user's activation query (scale from zero), summed over its series.

        An empty result is unknown, not zero: the series may be missing because its
        exporter is down. Write ``sum(...) or vector(0)`` where absence means idle.
        """
        self.queries_sent += 1
        return await asyncio.to_thread(self._activation, promql, self._clock())

    def _activation(self, promql: str, at: float) -> ActivationValue:
        try:
            raw = self._query(promql, at)
        except PrometheusReadError as exc:
            return ActivationValue(None, f"activation query failed: {exc}")
        values = _activation_values(raw)
        if not values:
            return ActivationValue(None, "activation query returned no series")
        if not all(math.isfinite(v) for v in values):
            return ActivationValue(None, "activation query returned NaN/Inf")
        return ActivationValue(sum(values))

    def _query(self, promql: str, at: float) -> Any:
        """The query's ``data.result`` at ``at``."""
        try:
            response = self._session.post(
                self._url,
                data={"query": promql, "time": f"{at:.3f}"},
                auth=self._auth,
                timeout=self._settings.query_timeout_seconds,
                # Passed with the request, so that REQUESTS_CA_BUNDLE does not override
                # the configured CA (requests lets the environment win over the session).
                verify=self._session.verify,
            )
        except requests.RequestException as exc:
            raise PrometheusReadError(f"Prometheus unreachable: {_short_error(exc)}") from exc
        if response.status_code != 200:
            raise PrometheusReadError(
                f"Prometheus answered HTTP {response.status_code}: {_error_text(response)}"
            )
        try:
            return response.json()["data"]["result"]
        except (ValueError, KeyError, TypeError) as exc:
            raise PrometheusReadError(
                f"Prometheus answered without a result: {_short_error(exc)}"
            ) from exc


def _activation_values(raw: Any) -> list[float]:
    """Values of an instant vector, or of a scalar (``[time, "value"]``)."""
    try:
        if isinstance(raw, list) and len(raw) == 2 and not isinstance(raw[0], dict):
            return [float(raw[1])]
        return [float(series["value"][1]) for series in raw]
    except (KeyError, IndexError, TypeError, ValueError):
        return [math.nan]


def split_by_signal(
    raw: list[dict[str, Any]], labels: MetricLabels, signals: Iterable[Signal]
) -> dict[Signal, SignalResult]:
    """The tick query's result as each signal's values (empty where no pod has one)."""
    series_by_signal: dict[str, list[dict[str, Any]]] = {s.value: [] for s in signals}
    for series in raw:
        name = series.get("metric", {}).get(SIGNAL_LABEL)
        if name in series_by_signal:
            series_by_signal[name].append(series)
    return {Signal(name): parse_vector(series, labels) for name, series in series_by_signal.items()}


def parse_vector(raw: list[dict[str, Any]], labels: MetricLabels) -> SignalResult:
    """An instant vector as {(namespace, modeldeployment): {pod: value}}, and its series
    of Triton's per-model sources (with the ``MODEL_LABEL``) as {(namespace,
    modeldeployment): {pod: {model: value}}}: which model's a pod's value is depends on
    the ModelDeployment (``FleetSample.observations``).

    A series without the pod label is the ModelDeployment's fleet-wide value (key
    ``FLEET_WIDE``). Prometheus encodes NaN/Inf as the strings "NaN", "+Inf";
    ``float`` parses them, and the aggregation treats them as unknown.
    """
    values: dict[FleetKey, PerPod] = {}
    by_model: dict[FleetKey, dict[str, PerPod]] = {}
    for series in raw:
        metric = series.get("metric", {})
        key = (metric.get(labels.namespace, ""), metric.get(labels.modeldeployment, ""))
        pod = metric.get(labels.pod, FLEET_WIDE)
        try:
            value = float(series["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            value = math.nan
        model = metric.get(MODEL_LABEL)
        if model is None:
            values.setdefault(key, {})[pod] = value
        else:
            by_model.setdefault(key, {}).setdefault(pod, {})[model] = value
    return SignalResult(values=values, by_model=by_model)


def _short_error(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 200 else text[:197] + "..."


def _error_text(response: requests.Response) -> str:
    """Prometheus's own error message (its JSON ``error``), else the start of the body."""
    try:
        text = str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        text = response.text
    return text if len(text) <= 200 else text[:197] + "..."
