"""Per-model statistics exported under Triton's exact metric names and labels.

Names were checked against the ``tritonserver`` bundled with nvidia-pytriton (2.51) started
with ``--metrics-config summary_latencies=true``: counters carry no ``_total`` suffix, the
failure counter has a ``reason`` label, summaries have quantiles 0.5/0.9/0.95/0.99/0.999.
The same records feed Triton's statistics extension (``statistics.py``), whose durations are
nanoseconds: they are kept in ns, and the ``_us`` counters add each request's ns // 1000, as
Triton's do. All updates happen on the event loop thread, so no locking is needed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import attrgetter

import numpy as np
from prometheus_client.core import Metric

QUANTILES = (0.5, 0.9, 0.95, 0.99, 0.999)
SUMMARY_MAX_AGE_S = 60.0  # like Triton's summaries: quantiles over the last minute
SUMMARY_MAX_SAMPLES = 10_000
FAILURE_REASONS = ("OTHER", "BACKEND", "CANCELED", "REJECTED")
NS_PER_US = 1000
NS_PER_MS = 1_000_000

# (metric name, help text, attribute path in ModelStats)
_COUNTERS = (
    (
        "nv_inference_request_success",
        "Number of successful inference requests, all batch sizes",
        "inference_stats.success.count",
    ),
    ("nv_inference_count", "Number of inferences performed", "inference_count"),
    ("nv_inference_exec_count", "Number of model executions performed", "exec_count"),
    (
        "nv_inference_request_duration_us",
        "Cumulative inference request duration in microseconds",
        "request_us",
    ),
    (
        "nv_inference_queue_duration_us",
        "Cumulative inference queuing duration in microseconds",
        "queue_us",
    ),
    (
        "nv_inference_compute_input_duration_us",
        "Cumulative compute input duration in microseconds",
        "input_us",
    ),
    (
        "nv_inference_compute_infer_duration_us",
        "Cumulative compute inference duration in microseconds",
        "infer_us",
    ),
    (
        "nv_inference_compute_output_duration_us",
        "Cumulative inference compute output duration in microseconds",
        "output_us",
    ),
)
_SUMMARIES = (
    (
        "nv_inference_request_summary_us",
        "Summary of inference request duration in microseconds",
        "request",
    ),
    (
        "nv_inference_queue_summary_us",
        "Summary of inference queuing duration in microseconds",
        "queue",
    ),
    (
        "nv_inference_compute_input_summary_us",
        "Summary of compute input duration in microseconds",
        "compute_input",
    ),
    (
        "nv_inference_compute_infer_summary_us",
        "Summary of compute inference duration in microseconds",
        "compute_infer",
    ),
    (
        "nv_inference_compute_output_summary_us",
        "Summary of compute output duration in microseconds",
        "compute_output",
    ),
)


@dataclass
class LatencySummary:
    """Cumulative count/sum plus quantiles over a sliding time window."""

    count: int = 0
    total: float = 0.0
    window: deque[tuple[float, float]] = field(
        default_factory=lambda: deque(maxlen=SUMMARY_MAX_SAMPLES)
    )

    def observe(self, value_us: float, now: float) -> None:
        self.count += 1
        self.total += value_us
        self.window.append((now, value_us))

    def quantiles(self, now: float) -> list[tuple[float, float]]:
        while self.window and self.window[0][0] < now - SUMMARY_MAX_AGE_S:
            self.window.popleft()
        if not self.window:
            return [(q, float("nan")) for q in QUANTILES]
        values = np.fromiter((v for _, v in self.window), dtype=np.float64)
        return list(zip(QUANTILES, np.quantile(values, QUANTILES).tolist(), strict=True))


@dataclass
class Duration:
    """A count and its cumulative nanoseconds (Triton's ``StatisticDuration``)."""

    count: int = 0
    ns: int = 0

    def add(self, ns: int) -> None:
        self.count += 1
        self.ns += ns


@dataclass
class InferDurations:
    """Per-request statistics (Triton's ``InferStatistics``): ``success`` and ``fail`` time
    whole requests (received to answered); the phases are those of successful requests, each
    request of a batch credited with its batch's compute phases."""

    success: Duration = field(default_factory=Duration)
    fail: Duration = field(default_factory=Duration)
    queue: Duration = field(default_factory=Duration)
    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)


@dataclass
class BatchDurations:
    """The executions of one batch size and their compute phases (``InferBatchStatistics``)."""

    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)


@dataclass
class ModelStats:
    model: str
    version: int
    pending: int = 0
    failure: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAILURE_REASONS, 0))
    inference_count: int = 0
    exec_count: int = 0
    # The /metrics duration counters: each request adds its ns // 1000, as Triton's do.
    request_us: int = 0
    queue_us: int = 0
    input_us: int = 0
    infer_us: int = 0
    output_us: int = 0
    inference_stats: InferDurations = field(default_factory=InferDurations)
    batch_stats: dict[int, BatchDurations] = field(default_factory=dict)  # by batch size
    last_inference_ms: int = 0  # wall clock (ms since the epoch) of the last execution
    summaries: dict[str, LatencySummary] = field(
        default_factory=lambda: {key: LatencySummary() for _, _, key in _SUMMARIES}
    )

    def record_execution(
        self, *, batch_size: int, input_ns: int, infer_ns: int, output_ns: int
    ) -> None:
        """One forward pass over ``batch_size`` rows. As in Triton's libtorch backend, only a
        pass that answered its requests counts: a failed one shows in its requests' ``fail``."""
        self.exec_count += 1
        # max(): a wall clock stepped back must not move it backwards (Triton does the same).
        self.last_inference_ms = max(self.last_inference_ms, time.time_ns() // NS_PER_MS)
        batch = self.batch_stats.setdefault(batch_size, BatchDurations())
        batch.compute_input.add(input_ns)
        batch.compute_infer.add(infer_ns)
        batch.compute_output.add(output_ns)

    def record_request(
        self,
        *,
        batch_size: int,
        request_ns: int,
        queue_ns: int,
        input_ns: int,
        infer_ns: int,
        output_ns: int,
    ) -> None:
        """One successful request; a request of a batch brings the batch's compute times."""
        self.inference_count += batch_size
        stats = self.inference_stats
        stats.success.add(request_ns)
        stats.queue.add(queue_ns)
        stats.compute_input.add(input_ns)
        stats.compute_infer.add(infer_ns)
        stats.compute_output.add(output_ns)
        self.request_us += request_ns // NS_PER_US
        self.queue_us += queue_ns // NS_PER_US
        self.input_us += input_ns // NS_PER_US
        self.infer_us += infer_ns // NS_PER_US
        self.output_us += output_ns // NS_PER_US
        now = time.monotonic()
        for key, ns in (
            ("request", request_ns),
            ("queue", queue_ns),
            ("compute_input", input_ns),
            ("compute_infer", infer_ns),
            ("compute_output", output_ns),
        ):
            self.summaries[key].observe(ns / NS_PER_US, now)

    def record_failure(self, reason: str, request_ns: int) -> None:
        self.failure[reason] += 1
        self.inference_stats.fail.add(request_ns)


class TritonMetricsCollector:
    """A prometheus_client collector yielding metric families named exactly like Triton's."""

    def __init__(self, summaries_enabled: bool) -> None:
        self.stats: list[ModelStats] = []
        self.summaries_enabled = summaries_enabled

    def register(self, model: str, version: int) -> ModelStats:
        stats = ModelStats(model, version)
        self.stats.append(stats)
        return stats

    def _labels(self, stats: ModelStats) -> dict[str, str]:
        return {"model": stats.model, "version": str(stats.version)}

    def collect(self) -> Iterator[Metric]:
        pending = Metric(
            "nv_inference_pending_request_count",
            "Instantaneous number of pending requests awaiting execution per-model.",
            "gauge",
        )
        failure = Metric(
            "nv_inference_request_failure",
            "Number of failed inference requests, all batch sizes",
            "counter",
        )
        for stats in self.stats:
            pending.add_sample(pending.name, self._labels(stats), stats.pending)
            for reason, value in stats.failure.items():
                failure.add_sample(failure.name, {**self._labels(stats), "reason": reason}, value)
        yield pending
        yield failure
        for name, help_text, attribute in _COUNTERS:
            counter = Metric(name, help_text, "counter")
            read = attrgetter(attribute)
            for stats in self.stats:
                counter.add_sample(name, self._labels(stats), read(stats))
            yield counter
        if self.summaries_enabled:
            yield from self._collect_summaries()

    def _collect_summaries(self) -> Iterator[Metric]:
        now = time.monotonic()
        for name, help_text, key in _SUMMARIES:
            summary = Metric(name, help_text, "summary")
            for stats in self.stats:
                labels = self._labels(stats)
                window = stats.summaries[key]
                summary.add_sample(name + "_count", labels, window.count)
                summary.add_sample(name + "_sum", labels, window.total)
                for quantile, value in window.quantiles(now):
                    summary.add_sample(name, {**labels, "quantile": str(quantile)}, value)
            yield summary
