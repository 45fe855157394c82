"""The simulated Prometheus: periodic scrapes of every serving pod's Triton metrics.

Each scrape stores, per pod that serves (ready or draining), a sample of its
counters and its pending-request gauge. Queries see only what was scraped, so
every scaler gets the delay it would get in a cluster. ``rate()`` is Prometheus's:
the increase over a pod's samples in the window (two at least), extrapolated toward the
window's edges and divided by the window.
During a metrics outage scrapes fail: Prometheus marks the series stale, so
instant queries come back empty at once, while ``rate()`` keeps using the older
samples still inside its window.

A new pod is scraped only once Prometheus has discovered it: its discovery manager
hands target changes to the scrapers on a fixed 5 s throttle, so a pod is discovered
up to that long after its creation (the phase, per pod, from its seeded uid). A pod whose
cold start is longer has been discovered by the time it serves; a fleet's first pod,
started moments before the load, has not.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from gpufleet.metrics.reader import DISCOVERY_DELAY_S
from gpufleet.metrics.sample import RATE_EXTRAPOLATION_REACH
from gpufleet.sim.fleet import Fleet, Pod
from gpufleet.sim.replica import PodState

_UID_SPAN = float(2**63)
"""Pod uids are uniform 63-bit draws: a uid over this is a uniform phase in [0, 1)."""


@dataclass(frozen=True, slots=True)
class PodSample:
    at: float
    success: int
    failure: int
    errors: int
    inferences: int
    executions: int
    request_s: float
    queue_s: float
    compute_s: float
    pending: int
    """Waiting to execute (Triton's pending gauge); executing ones are not counted."""
    running: int = 0
    """Executing (``vllm:num_requests_running`` on an LLM replica)."""
    kv_usage: float = 0.0
    """Share of the KV cache held (``vllm:kv_cache_usage_perc``); 0 without one."""
    prompt_tokens: float = 0.0
    generation_tokens: float = 0.0
    preemptions: int = 0
    """Sequences preempted for KV so far (``vllm:num_preemptions_total``)."""


@dataclass(frozen=True, slots=True)
class Scrape:
    """One successful scrape of the whole fleet."""

    at: float
    pods: dict[int, PodSample]

    @property
    def pending(self) -> int:
        """``sum(nv_inference_pending_request_count)``: requests waiting, not executing."""
        return sum(s.pending for s in self.pods.values())


@dataclass(frozen=True, slots=True)
class PodRates:
    """Per-second increases of one pod's counters over a window."""

    success: float
    failure: float
    errors: float
    inferences: float
    executions: float
    request_s: float
    queue_s: float
    compute_s: float
    prompt_tokens: float = 0.0
    generation_tokens: float = 0.0
    preemptions: float = 0.0


class MetricsPipeline:
    def __init__(
        self,
        fleet: Fleet,
        outages: tuple[tuple[float, float], ...] = (),
        initial_pod_age_s: float | None = None,
    ) -> None:
        self.fleet = fleet
        self.outages = outages
        self.initial_pod_age_s = initial_pod_age_s
        self.scrapes: list[Scrape] = []
        self._series: dict[int, tuple[list[float], list[PodSample]]] = {}
        self._stale = False

    def scrape(self, now: float) -> None:
        if any(start <= now < end for start, end in self.outages):
            self._stale = True  # a failed scrape writes staleness markers
            return
        self._stale = False
        pods = {
            p.name: _snapshot(p, now)
            for p in self.fleet.pods
            if _serving(p) and self.discovered_at(p) <= now
        }
        for name, sample in pods.items():
            times, samples = self._series.setdefault(name, ([], []))
            times.append(now)
            samples.append(sample)
        self.scrapes.append(Scrape(now, pods))

    def discovered_at(self, pod: Pod) -> float:
        """When Prometheus has this pod among its targets: within the discovery throttle
        of the pod's creation. The initial pods of a fleet running long before the trace
        were discovered long ago."""
        created = pod.created_at
        if pod.name in self.fleet.initial_pods:
            if self.initial_pod_age_s is None:
                return -float("inf")
            created = -self.initial_pod_age_s
        return created + DISCOVERY_DELAY_S * (pod.uid / _UID_SPAN)

    def latest(self, now: float, max_age: float) -> Scrape | None:
        """The newest scrape no older than ``max_age`` (an instant query's lookback)."""
        if self._stale or not self.scrapes or now - self.scrapes[-1].at > max_age:
            return None
        return self.scrapes[-1]

    def _within(self, pod: int, now: float, window: float) -> list[PodSample]:
        """The pod's samples in the range ``[now - window, now]`` (a range vector)."""
        times, samples = self._series.get(pod, ([], []))
        return samples[bisect.bisect_left(times, now - window) : bisect.bisect_right(times, now)]

    def scrapes_within(self, pod: int, now: float, window: float) -> int:
        """``count_over_time(...[window])``: the pod's samples in the window."""
        return len(self._within(pod, now, window))

    def mean_running(self, pod: int, now: float, window: float) -> float | None:
        """``avg_over_time(vllm:num_requests_running[window])`` of one pod; None without a
        sample in the window."""
        inside = self._within(pod, now, window)
        return sum(s.running for s in inside) / len(inside) if inside else None

    def rates(self, pod: int, now: float, window: float) -> PodRates | None:
        """``rate(counter[window])`` of one pod, as Prometheus computes it
        (``prometheus_rate``); None with fewer than 2 samples."""
        inside = self._within(pod, now, window)
        if len(inside) < 2:
            return None
        a, b = inside[0], inside[-1]
        count = len(inside)

        def rate(first: float, last: float) -> float:
            return prometheus_rate((a.at, first), (b.at, last), count, now, window)

        return PodRates(
            success=rate(a.success, b.success),
            failure=rate(a.failure, b.failure),
            errors=rate(a.errors, b.errors),
            inferences=rate(a.inferences, b.inferences),
            executions=rate(a.executions, b.executions),
            request_s=rate(a.request_s, b.request_s),
            queue_s=rate(a.queue_s, b.queue_s),
            compute_s=rate(a.compute_s, b.compute_s),
            prompt_tokens=rate(a.prompt_tokens, b.prompt_tokens),
            generation_tokens=rate(a.generation_tokens, b.generation_tokens),
            preemptions=rate(a.preemptions, b.preemptions),
        )


def prometheus_rate(
    first: tuple[float, float],
    last: tuple[float, float],
    count: int,
    now: float,
    window: float,
) -> float:
    """``rate(counter[window])`` at ``now`` as Prometheus's ``extrapolatedRate`` computes
    it from the window's first and last ``(time, value)`` samples and their ``count``
    (no counter resets: simulated pods never restart).

    The increase is extrapolated toward the window's edges -- all the way when a sample
    lies within 1.1 average intervals of an edge, else half an interval, and at the
    start never below where the counter would have been zero -- and divided by the
    whole window. A series younger than the window (a pod scraped for a few seconds) so
    reads low, as in a cluster: that is why the operator's reader calls such a pod's
    rates lower bounds."""
    (first_at, first_value), (last_at, last_value) = first, last
    sampled = last_at - first_at
    average = sampled / (count - 1)
    reach = RATE_EXTRAPOLATION_REACH * average
    to_start = first_at - (now - window)
    to_end = now - last_at
    if to_start >= reach:
        to_start = average / 2.0
    increase = last_value - first_value
    if increase > 0.0 and first_value >= 0.0:
        to_start = min(to_start, sampled * (first_value / increase))
    if to_end >= reach:
        to_end = average / 2.0
    # In Prometheus's order of operations, for the same float.
    factor = (sampled + to_start + to_end) / sampled / window
    return increase * factor


def _serving(pod: Pod) -> bool:
    return pod.state is PodState.READY or pod.state is PodState.DRAINING


def _snapshot(pod: Pod, now: float) -> PodSample:
    c = pod.counters
    return PodSample(
        at=now,
        success=c.success,
        failure=c.failure,
        errors=c.errors,
        inferences=c.inferences,
        executions=c.executions,
        request_s=c.request_s,
        queue_s=c.queue_s,
        compute_s=c.compute_s,
        pending=pod.waiting,
        running=pod.running_count,
        kv_usage=pod.kv_usage_at(now),
        preemptions=pod.preemptions,
        prompt_tokens=pod.prompt_tokens_total,
        generation_tokens=pod.generation_tokens_total,
    )
