"""One tick's query results for the whole fleet, turned into per-ModelDeployment observations.

Unknown is never zero: a signal is ``None`` with a reason in
``Observations.unknown`` when the tick's query failed (Prometheus unreachable, a
timeout, an error answer), the ModelDeployment has no fresh samples, an expected pod
is missing or stale, or a value is NaN/Inf. Pods whose last scrape is older than
``stale_after`` are left out of every signal (their rates describe the past).

A pod that is warming up is not a loss of metrics: one whose series do not yet span
the rate window (scraped fewer than twice, ``rate()`` has no value for it; or a few
times, and ``rate()`` extrapolates from a series younger than the window, understating
it), or a ready pod Prometheus has not scraped yet that became ready less than
``warm_up_seconds`` ago. Sums over the pods are then known, and also listed in
``lower_bounds``: a warming pod's share is missing or understated, so they may
understate the load, never overstate it.

How much ``rate()`` understates a young series is known: it divides the increase by
the whole window, while the increase covers the pod's ``n`` scrapes' span extrapolated
by at most half an interval at its start (the series began within the window) and 1.1
intervals at its end, ``n + 0.6`` intervals in all. So the counter rates of a warming
pod that became ready within the rate window are scaled by ``window / ((n + 0.6)
interval)``: still at most its true rate, but a few times nearer to it in a new pod's
first window. A pod ready for longer that is short of samples missed scrapes: its
rates are left as they are.

A signal the pod's engine does not export (TTFT of a classic Triton model) is
``None`` and not listed as unknown: there is nothing to wait for.

Triton exports its ``nv_inference_*`` once per model: a pod serving an ensemble
(TensorRT-LLM's preprocessing -> tensorrt_llm -> postprocessing) counts each request
once per model it passes through. Of a pod's per-model series the ModelDeployment's
entry model's are read (``spec.model.name``, the model clients call: for an ensemble,
the ensemble); a pod with one model's series reads that one whatever it is called
(gpufleet-server names its model after its configuration). A pod with several, none of
them the entry model, has those signals unknown, with the models it exports: their sum
would count a request once per model, and no one of them is known to be the one
clients call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from gpufleet.domain.scaling.types import Observations
from gpufleet.metrics.queries import ENGINE_CODES, QUERY_BY_SIGNAL, Engine, Signal

PodKey = tuple[str, str, str]
"""(namespace, modeldeployment, pod)."""
FleetKey = tuple[str, str]
"""(namespace, modeldeployment)."""
PerPod = dict[str, float]

FLEET_WIDE = ""
"""The pod key of a fleet-wide value (a query without the pod label)."""


@dataclass(frozen=True, slots=True)
class SignalResult:
    """One signal's values by ModelDeployment and pod."""

    values: dict[FleetKey, PerPod] = field(default_factory=dict)
    by_model: dict[FleetKey, dict[str, PerPod]] = field(default_factory=dict)
    """Values of Triton's per-model series by ModelDeployment, pod and model (pod
    ``FLEET_WIDE`` for a fleet-wide value): the entry model's is the pod's (module
    docstring). A pod has either these or a value in ``values``, not both (the query's
    precedence keeps one source per pod)."""


_NOT_QUERIED = SignalResult()
_IDLE = "no requests in the rate window"


@dataclass(frozen=True, slots=True)
class FleetSample:
    at: float
    """Evaluation time of every query of this tick (Unix seconds)."""
    stale_after_seconds: float
    signals: Mapping[Signal, SignalResult]
    """A signal absent here was not queried: read as not exported by any pod."""
    read_error: str | None = None
    """Why the tick's query failed; then every signal is unknown."""
    warm_up_seconds: float = 0.0
    """How long a ready pod may go unscraped before its absence counts as a loss
    (Prometheus's discovery delay, then two scrape intervals)."""
    rate_window_seconds: float | None = None
    """The window of every ``rate()``."""
    scrape_interval_seconds: float | None = None
    """Prometheus's scrape interval. With the window, it tells a pod whose series spans
    the window from one still warming (``_young``); without either, a pod is warming only
    while scraped fewer than twice, and no warming pod's rates are rescaled."""

    def result(self, signal: Signal) -> SignalResult:
        return self.signals.get(signal, _NOT_QUERIED)

    def fresh_pods(self, namespace: str, name: str) -> tuple[list[str], list[str]]:
        """Pods scraped within ``stale_after``, and pods seen but stale."""
        stamps = self.result(Signal.FRESHNESS).values.get((namespace, name), {})
        fresh = sorted(p for p, ts in stamps.items() if self.at - ts <= self.stale_after_seconds)
        stale = sorted(p for p, ts in stamps.items() if self.at - ts > self.stale_after_seconds)
        return fresh, stale

    def engines(self, namespace: str, name: str, pods: list[str]) -> frozenset[Engine]:
        """The engines these pods run; Triton where the pod's engine was not read (the
        simulator's pods, a pod not scraped yet)."""
        codes = self.result(Signal.ENGINE).values.get((namespace, name), {})
        engines = {_engine(codes.get(p, 1.0)) for p in pods}
        return frozenset(engines or {Engine.TRITON})

    def observations(
        self,
        namespace: str,
        name: str,
        expected_pods: int | None,
        ready_since: Mapping[str, float] | None = None,
        model: str | None = None,
    ) -> Observations:
        """The ModelDeployment's fleet-wide signals.

        ``expected_pods`` is how many pods should be reporting (the ready replicas);
        fewer fresh ones make every signal unknown: a sum over some pods would
        read as a drop in load. The load signals' sums over the pods that do report
        are kept as ``lower_bounds``: enough to scale up on, never to scale down.
        ``ready_since`` (ready pod name -> when it became ready, Unix seconds) lets a
        pod that became ready within ``warm_up_seconds`` be absent without that.
        ``model``: the model clients call (``spec.model.name``), whose series are read of
        a Triton pod that exports several models' (module docstring); ``None``: only a
        pod with one model's is read.
        """
        if self.read_error is not None:
            return _all_unknown(self.at, self.read_error)
        fresh, stale = self.fresh_pods(namespace, name)
        unscraped = self._unscraped_warming(fresh, stale, ready_since)
        problem = _pods_problem(fresh, stale, unscraped, self.stale_after_seconds)
        if problem is not None:
            return _all_unknown(self.at, problem, pods_reporting=len(fresh))
        key = (namespace, name)
        scrapes = self.result(Signal.SCRAPES).values.get(key, {})
        young = self._young(fresh, scrapes, self.result(Signal.FRESHNESS).values.get(key, {}))
        rescaled = self._rescaled(young, scrapes, ready_since)
        aggregator = _Aggregator(self, key, fresh, young, rescaled, model)
        if expected_pods is None and ready_since is not None:
            expected_pods = len(ready_since)
        short = _pods_short(fresh, stale, len(unscraped), expected_pods)
        if short is not None:
            return replace(
                _all_unknown(self.at, short, pods_reporting=len(fresh)),
                lower_bounds=aggregator.lower_bounds(),
            )
        return aggregator.observations(self.engines(namespace, name, fresh), bool(unscraped))

    def _unscraped_warming(
        self, fresh: list[str], stale: list[str], ready_since: Mapping[str, float] | None
    ) -> list[str]:
        """Ready pods Prometheus has not scraped yet that became ready too recently to tell."""
        seen = set(fresh) | set(stale)
        return sorted(
            pod
            for pod, since in (ready_since or {}).items()
            if pod not in seen and self.at - since < self.warm_up_seconds
        )

    def _rescaled(
        self, young: frozenset[str], scrapes: PerPod, ready_since: Mapping[str, float] | None
    ) -> dict[str, float]:
        """The factor that undoes ``rate()``'s understatement, for each warming pod that
        became ready within the rate window (module docstring)."""
        window, interval = self.rate_window_seconds, self.scrape_interval_seconds
        if window is None or interval is None or ready_since is None:
            return {}
        window_scrapes = math.floor(window / interval)
        factors = {}
        for pod in young:
            n, since = scrapes.get(pod), ready_since.get(pod)
            if n is None or since is None or n < 2.0 or self.at - since >= window:
                continue
            factors[pod] = max(1.0, window_scrapes / (n + YOUNG_SERIES_EXTRAPOLATION))
        return factors

    def _young(self, fresh: list[str], scrapes: PerPod, last_scraped: PerPod) -> frozenset[str]:
        """Fresh pods whose series do not span the rate window yet: scraped fewer than twice
        (no rate), or with no sample in the window's first scrape interval (their rates
        understate them; their ratios may be skewed, ``_Ratios``).

        The first sample is dated back from the last by the samples counted, which the
        same query saw: a scrape in flight when the tick reads (dated before it, stored
        after) leaves a pod one sample short while its series still spans the window."""
        window, interval = self.rate_window_seconds, self.scrape_interval_seconds
        young = set()
        for pod in fresh:  # every fresh pod has a last scrape: that is what makes it fresh
            n = scrapes.get(pod)
            if n is None:
                continue
            if n < 2.0:
                young.add(pod)
            elif window is not None and interval is not None:
                first = last_scraped[pod] - (n - 1.0) * interval
                if first - (self.at - window) >= interval - TIMESTAMP_RESOLUTION_S:
                    young.add(pod)
        return frozenset(young)


def _entry_value(values: PerPod, model: str | None) -> float | None:
    """Of one pod's (or fleet's) per-model values, the entry model's; the only one's if
    there is one; else ``None``: which would be the pod's is not known."""
    if model is not None and model in values:
        return values[model]
    if len(values) == 1:
        return next(iter(values.values()))
    return None


def _several_models(by_model: Mapping[str, PerPod], pods: list[str], model: str | None) -> str:
    """Why the Triton pods among ``pods`` have no value: several models' series, none of
    them the entry model's."""
    models = sorted({m for p in pods for m in by_model[p]})
    where = "the fleet's Triton" if pods == [FLEET_WIDE] else f"Triton in pods {', '.join(pods)}"
    entry = "no entry model was given" if model is None else f"none is spec.model.name {model!r}"
    return (
        f"{where} exports the metrics of models {', '.join(models)}, and {entry}: "
        "name the model clients call (for an ensemble, the ensemble)"
    )


def _engine(code: float) -> Engine:
    return ENGINE_CODES.get(round(code), Engine.TRITON) if math.isfinite(code) else Engine.TRITON


_ALL = (
    "request_rate",
    "served_rate",
    "queue_depth",
    "p95_latency_ms",
    "avg_latency_ms",
    "avg_queue_ms",
    "compute_ms_per_request",
    "inferences_per_exec",
    "unserved_rate",
    "error_rate",
)


COUNTER_RATES = frozenset(
    {
        Signal.SUCCESS_RATE,
        Signal.UNSERVED_RATE,
        Signal.ERROR_RATE,
        Signal.INFERENCE_RATE,
        Signal.EXEC_RATE,
        Signal.REQUEST_US_RATE,
        Signal.QUEUE_US_RATE,
        Signal.COMPUTE_US_RATE,
        Signal.PROMPT_TOKENS_RATE,
        Signal.GENERATION_TOKENS_RATE,
        Signal.PREEMPTION_RATE,
    }
)
"""Signals read as ``rate()`` of a counter, per pod: what a young series understates."""
RATE_EXTRAPOLATION_REACH = 1.1
"""``rate()`` extrapolates to a window's edge when a sample lies within this many average
scrape intervals of it, else half an interval (Prometheus's ``extrapolatedRate``)."""
YOUNG_SERIES_EXTRAPOLATION = 0.5 + RATE_EXTRAPOLATION_REACH - 1.0
"""Intervals ``rate()`` adds to a young series' ``n - 1`` sampled ones, at most: half an
interval before its first sample (the series began within the window), less than the
reach after its last: 0.6."""

TIMESTAMP_RESOLUTION_S = 0.001
"""Prometheus stores sample times in milliseconds: a first sample dated one scrape
interval after the window's start, to within that, is one the window's first scrape
missed."""

_LOAD_SIGNALS = {
    "queue_depth": Signal.PENDING,
    "served_rate": Signal.SUCCESS_RATE,
    "unserved_rate": Signal.UNSERVED_RATE,
    "running_requests": Signal.RUNNING,
    "mean_running_requests": Signal.RUNNING_MEAN,
    "prompt_tokens_rate": Signal.PROMPT_TOKENS_RATE,
    "generation_tokens_rate": Signal.GENERATION_TOKENS_RATE,
}
"""Load signals whose sum over some pods is a lower bound of the fleet's
(``request_rate`` is served + unserved, bounded likewise)."""


def _all_unknown(at: float, reason: str, pods_reporting: int = 0) -> Observations:
    return Observations(at=at, pods_reporting=pods_reporting, unknown=dict.fromkeys(_ALL, reason))


def _pods_problem(
    fresh: list[str], stale: list[str], unscraped: list[str], stale_after: float
) -> str | None:
    """Why nothing at all can be said about the fleet's load, or ``None``."""
    if not fresh and not stale:
        return None if unscraped else "no samples for this ModelDeployment"
    if not fresh:
        return f"all pods stale (no scrape for > {stale_after:g} s: {', '.join(stale)})"
    return None


def _pods_short(
    fresh: list[str], stale: list[str], warming: int, expected: int | None
) -> str | None:
    """Why the fresh pods are fewer than the ready ones that should report, or ``None``."""
    if expected is not None and len(fresh) + warming < expected:
        detail = f"; stale: {', '.join(stale)}" if stale else ""
        return f"{len(fresh)} of {expected - warming} pods reporting{detail}"
    return None


class _Aggregator:
    """Sums one ModelDeployment's fresh pods per signal, recording what is unknown."""

    def __init__(
        self,
        sample: FleetSample,
        key: FleetKey,
        pods: list[str],
        warming: frozenset[str],
        rescaled: Mapping[str, float],
        model: str | None = None,
    ) -> None:
        self._sample = sample
        self._key = key
        self.pods = pods
        self.warming = warming
        self._rescaled = rescaled
        self._model = model
        self._entry: dict[Signal, PerPod] = {}
        self.unknown: dict[str, str] = {}

    def _entry_values(self, signal: Signal) -> PerPod:
        """The signal's values by pod (or ``FLEET_WIDE``): of a Triton pod's per-model
        series, the entry model's (module docstring)."""
        if signal not in self._entry:
            result = self._sample.result(signal)
            values = result.values.get(self._key, {})
            by_model = result.by_model.get(self._key, {})
            if by_model:
                values = dict(values)
                for pod, models in by_model.items():
                    value = _entry_value(models, self._model)
                    if value is not None and pod not in values:
                        values[pod] = value
            self._entry[signal] = values
        return self._entry[signal]

    def _unresolved(self, signal: Signal, pods: list[str]) -> str | None:
        """Why ``pods`` that have the signal only as several Triton models' series, none
        of them the entry model's, have no value; ``None`` if no pod does."""
        by_model = self._sample.result(signal).by_model.get(self._key, {})
        values = self._entry_values(signal)
        unresolved = [p for p in pods if p in by_model and p not in values]
        return _several_models(by_model, unresolved, self._model) if unresolved else None

    def _values(self, signal: Signal) -> PerPod:
        """The signal's values by pod, a new pod's counter rate scaled up by what
        ``rate()`` understates of a series younger than the window (module docstring)."""
        values = self._entry_values(signal)
        if signal not in COUNTER_RATES or not self._rescaled:
            return values
        return {p: v * self._rescaled.get(p, 1.0) for p, v in values.items()}

    def per_pod(self, signal: Signal, pods: list[str] | None = None) -> PerPod | str:
        """Values of every fresh pod, or of ``pods`` (a warming pod may lack one), or why
        they are unusable."""
        pods = self.pods if pods is None else pods
        values = self._values(signal)
        missing = [p for p in pods if p not in values]
        # Not a warming pod's missing sample: one no longer scrape will resolve.
        unresolved = self._unresolved(signal, missing)
        if unresolved is not None:
            return unresolved
        if [p for p in missing if p not in self.warming]:
            return f"no {signal.value} sample from pods {', '.join(missing)}"
        bad = [p for p in pods if p in values and not math.isfinite(values[p])]
        if bad:
            return f"NaN/Inf {signal.value} from pods {', '.join(bad)}"
        return {p: values[p] for p in pods if p in values}

    def total(self, signal: Signal, name: str) -> float | None:
        values = self.per_pod(signal)
        if isinstance(values, str):
            self.unknown[name] = values
            return None
        return sum(values.values())

    def lower_bound(self, signal: Signal) -> float | None:
        """Sum over the fresh pods that have a finite value: at most the fleet's total."""
        values = self._values(signal)
        present = [values[p] for p in self.pods if p in values and math.isfinite(values[p])]
        # No pod scraped yet (all warming): nothing served that anyone saw, 0 at least.
        return sum(present) if present or not self.pods else None

    def lower_bounds(self) -> dict[str, float]:
        bounds = {name: self.lower_bound(signal) for name, signal in _LOAD_SIGNALS.items()}
        served, unserved = bounds["served_rate"], bounds["unserved_rate"]
        if served is not None:
            bounds["request_rate"] = served + (unserved or 0.0)
        return {name: value for name, value in bounds.items() if value is not None}

    def fleet_value(self, signal: Signal, name: str, idle_reason: str) -> float | None:
        """A fleet-wide value (histogram quantile); NaN means no observations in the window."""
        value = self._values(signal).get(FLEET_WIDE)
        if value is None or not math.isfinite(value):
            unresolved = self._unresolved(signal, [FLEET_WIDE])
            missing = unresolved or f"no {signal.value} sample"
            self.unknown[name] = idle_reason if value is not None else missing
            return None
        return value

    def p95_ms(self, success: PerPod | str) -> float | None:
        """Traffic-weighted mean of the pods' p95 (quantiles do not add; this is close
        when the load is balanced, and a pod without traffic does not skew it)."""
        values = self._values(Signal.P95_US)
        usable = {p: v for p, v in values.items() if p in self.pods and math.isfinite(v)}
        unresolved = self._unresolved(Signal.P95_US, self.pods)
        if unresolved is not None:
            self.unknown["p95_latency_ms"] = unresolved
            return None
        if not usable:
            self.unknown["p95_latency_ms"] = (
                "no p95 summary (no recent requests, or Triton runs without "
                "--metrics-config summary_latencies=true)"
            )
            return None
        weights = success if isinstance(success, dict) else {}
        total_weight = sum(weights.get(p, 0.0) for p in usable)
        if total_weight <= 0.0:
            return max(usable.values()) / 1000.0
        return sum(v * weights.get(p, 0.0) for p, v in usable.items()) / total_weight / 1000.0

    def observations(self, engines: frozenset[Engine], unscraped: bool) -> Observations:
        def exported(signal: Signal) -> bool:
            return bool(engines & QUERY_BY_SIGNAL[signal].engines)

        def total(signal: Signal, name: str) -> float | None:
            return self.total(signal, name) if exported(signal) else None

        served = total(Signal.SUCCESS_RATE, "served_rate")
        unserved = total(Signal.UNSERVED_RATE, "unserved_rate")
        queue = total(Signal.PENDING, "queue_depth")
        ratios = _Ratios(self, exported)
        request_rate = self._request_rate(served, unserved)
        kv = self.per_pod(Signal.KV_USAGE) if exported(Signal.KV_USAGE) else None
        if isinstance(kv, str):
            self.unknown["kv_cache_usage"] = self.unknown["kv_cache_usage_max"] = kv
        kv_values = list(kv.values()) if isinstance(kv, dict) else []
        triton = exported(Signal.COMPUTE_US_RATE)
        obs = Observations(
            at=self._sample.at,
            request_rate=request_rate,
            served_rate=served,
            queue_depth=queue,
            least_pod_queue_depth=self._least(Signal.PENDING) if exported(Signal.PENDING) else None,
            p95_latency_ms=self._p95_latency(exported(Signal.E2E_P95_MS), triton),
            avg_latency_ms=ratios.per_request(Signal.REQUEST_US_RATE, "avg_latency_ms", 1e-3),
            avg_queue_ms=ratios.per_request(Signal.QUEUE_US_RATE, "avg_queue_ms", 1e-3),
            compute_ms_per_request=(
                ratios.per_request(Signal.COMPUTE_US_RATE, "compute_ms_per_request", 1e-3)
                if triton
                else None
            ),
            inferences_per_exec=(
                ratios.of(Signal.INFERENCE_RATE, Signal.EXEC_RATE, "inferences_per_exec", 1.0)
                if triton
                else None
            ),
            unserved_rate=unserved,
            error_rate=total(Signal.ERROR_RATE, "error_rate"),
            ttft_p95_ms=self._fleet_if(exported, Signal.TTFT_P95_MS, "ttft_p95_ms"),
            itl_p95_ms=self._fleet_if(exported, Signal.ITL_P95_MS, "itl_p95_ms"),
            ttft_p99_ms=self._fleet_if(exported, Signal.TTFT_P99_MS, "ttft_p99_ms"),
            itl_p99_ms=self._fleet_if(exported, Signal.ITL_P99_MS, "itl_p99_ms"),
            tpot_p95_ms=self._fleet_if(exported, Signal.TPOT_P95_MS, "tpot_p95_ms"),
            tpot_p99_ms=self._fleet_if(exported, Signal.TPOT_P99_MS, "tpot_p99_ms"),
            kv_cache_usage=sum(kv_values) / len(kv_values) if kv_values else None,
            kv_cache_usage_max=max(kv_values) if kv_values else None,
            prompt_tokens_rate=total(Signal.PROMPT_TOKENS_RATE, "prompt_tokens_rate"),
            generation_tokens_rate=total(Signal.GENERATION_TOKENS_RATE, "generation_tokens_rate"),
            preemption_rate=total(Signal.PREEMPTION_RATE, "preemption_rate"),
            running_requests=total(Signal.RUNNING, "running_requests"),
            mean_running_requests=total(Signal.RUNNING_MEAN, "mean_running_requests"),
            pods_reporting=len(self.pods),
            unknown=self.unknown,
        )
        bounds = self.lower_bounds()
        bounded = {n for n in bounds if n in self.unknown}
        if unscraped or self.warming:
            # A warming pod's share is missing or understated: known load sums are lower bounds.
            bounded |= {n for n in bounds if getattr(obs, n) is not None}
        if obs.request_rate is not None and obs.unserved_rate is None:
            bounded.add("request_rate")  # served only: the unserved are not counted
        return replace(obs, lower_bounds={n: bounds[n] for n in sorted(bounded) if n in bounds})

    def _least(self, signal: Signal) -> float | None:
        """The smallest value over the ready pods; ``None`` unless every one has one (a
        warming pod's missing value could be the smallest)."""
        values = self.per_pod(signal)
        if isinstance(values, str) or not values or len(values) < len(self.pods):
            return None
        return min(values.values())

    def _request_rate(self, served: float | None, unserved: float | None) -> float | None:
        """Requests/s that arrived and left, served or not for want of capacity: the
        unserved are demand too (errors are not: more replicas do not serve them)."""
        if served is None:
            self.unknown["request_rate"] = self.unknown.get("served_rate", "no served rate")
            return None
        return served + (unserved or 0.0)

    def _p95_latency(self, histogram: bool, summary: bool) -> float | None:
        if histogram:
            result = self._values(Signal.E2E_P95_MS)
            if math.isfinite(result.get(FLEET_WIDE, math.nan)) or not summary:
                return self.fleet_value(Signal.E2E_P95_MS, "p95_latency_ms", "no requests lately")
        return self.p95_ms(self.per_pod(Signal.SUCCESS_RATE)) if summary else None

    def _fleet_if(
        self, exported: Callable[[Signal], bool], signal: Signal, name: str
    ) -> float | None:
        if not exported(signal):
            return None
        return self.fleet_value(signal, name, "no requests lately")


class _Ratios:
    """Ratios of two counter rates (time per request, requests per execution), read from
    the pods whose series span the rate window while any does.

    ``rate()`` extrapolates each series to the window's start unless that would take the
    counter below zero, and then only when the distance is within 1.1 scrape intervals.
    For a series younger than the window these limits cut in at different places for two
    counters of one pod (each counter's first value against its own increase), so one
    counter can be stretched by 1.1 intervals and the other by half of one, and their
    ratio misread by up to (n + 0.1) / (n - 0.5) after ``n`` scrapes
    (tests/metrics/test_ratio_reads.py). Over a scale-up the settled pods give the ratio;
    while every pod is young (a fleet's first rate window), the young ones do, skew and
    all: a batch size read a little off sizes a new fleet better than none (the capacity
    model bounds the mean batch by the server's configured largest).
    """

    def __init__(self, aggregator: _Aggregator, exported: Callable[[Signal], bool]) -> None:
        self._aggregator = aggregator
        self._exported = exported
        settled = [p for p in aggregator.pods if p not in aggregator.warming]
        self._pods = settled or list(aggregator.pods)
        self._totals: dict[Signal, float | str] = {}

    def per_request(self, signal: Signal, name: str, scale: float) -> float | None:
        return self.of(signal, Signal.SUCCESS_RATE, name, scale)

    def of(self, num: Signal, den: Signal, name: str, scale: float) -> float | None:
        if not (self._exported(num) and self._exported(den)):
            return None
        numerator, denominator = self._total(num), self._total(den)
        for value in (numerator, denominator):
            if isinstance(value, str):
                self._aggregator.unknown[name] = value
        if isinstance(numerator, str) or isinstance(denominator, str):
            return None
        if denominator <= 0.0:
            self._aggregator.unknown[name] = _IDLE
            return None
        return numerator / denominator * scale

    def _total(self, signal: Signal) -> float | str:
        """The sum over the ratio's pods, or why it is unknown; once per signal (the served
        rate is every per-request ratio's denominator)."""
        if signal not in self._totals:
            values = self._aggregator.per_pod(signal, self._pods)
            self._totals[signal] = values if isinstance(values, str) else sum(values.values())
        return self._totals[signal]
