"""The operator's own Prometheus metrics (``gpufleet_*``), on a dedicated registry.

The chart's alerts (PrometheusRule), Grafana dashboard and runbooks query these
names, and ``tests/chart`` checks that every ``gpufleet_*`` series they use is
defined here. Rename a metric and those tests fail until the chart follows.

A dedicated :class:`CollectorRegistry` (not the process-global one) keeps the
exposition limited to what we define and lets tests build fresh instances.

Per-ModelDeployment gauges carry the labels ``namespace`` and ``modeldeployment``
(the same names the model pods' metrics get from the chart's PodMonitor), so a
dashboard can join the operator's view with Triton's ``nv_inference_*`` series.
Unknown values (no p95 measured yet) are exported as NaN, never as 0: a lost
signal must not look like a perfect latency.
"""

from __future__ import annotations

import errno
import math
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Final
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import ThreadingWSGIServer, make_wsgi_app, start_http_server

from gpufleet import __version__

NAMESPACE_LABEL: Final = "namespace"
MODELDEPLOYMENT_LABEL: Final = "modeldeployment"
MD_LABELS: Final = (NAMESPACE_LABEL, MODELDEPLOYMENT_LABEL)

# Reconciles finish in well under a second unless the API server is slow; ticks
# include a Prometheus round trip bounded by GPUFLEET_QUERY_TIMEOUT_SECONDS.
_RECONCILE_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_TICK_BUCKETS: Final = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_READ_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 30.0)
"""Fine around the default 5 s query timeout, which a large fleet's read approaches."""

RECONCILE_KINDS: Final = ("create", "update", "resume", "delete")
"""kopf handler kinds exported at 0 from the start.

A counter series that first appears already at 1 shows no increase to ``rate()``,
so the first error of a kind would never alert; pre-created series start at 0.
"""


class OperatorMetrics:
    """Every metric the operator exports; one instance per process."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry

        self.build_info = Gauge(
            "gpufleet_build_info",
            "Always 1; labels carry the operator version.",
            ["version"],
            registry=r,
        )
        self.build_info.labels(version=__version__).set(1)

        # Reconciles: one per kopf handler run; ``kind`` is the handler's kind
        # (create, update, resume, delete, ...), a small fixed set.
        self.reconcile_total = Counter(
            "gpufleet_reconcile_total", "Reconciles run, by handler kind.", ["kind"], registry=r
        )
        self.reconcile_errors_total = Counter(
            "gpufleet_reconcile_errors_total",
            "Reconciles that raised (kopf will retry), by handler kind.",
            ["kind"],
            registry=r,
        )
        self.reconcile_duration_seconds = Histogram(
            "gpufleet_reconcile_duration_seconds",
            "Wall time of one reconcile, by handler kind.",
            ["kind"],
            buckets=_RECONCILE_BUCKETS,
            registry=r,
        )
        for kind in RECONCILE_KINDS:
            self.reconcile_total.labels(kind=kind)
            self.reconcile_errors_total.labels(kind=kind)

        # The scaling loop: one tick per ModelDeployment every GPUFLEET_TICK_SECONDS.
        self.scaling_ticks_total = Counter(
            "gpufleet_scaling_ticks_total", "Scaling loop ticks run.", registry=r
        )
        self.scaling_tick_errors_total = Counter(
            "gpufleet_scaling_tick_errors_total",
            "Scaling loop ticks that failed before a decision was applied.",
            registry=r,
        )
        self.scaling_tick_duration_seconds = Histogram(
            "gpufleet_scaling_tick_duration_seconds",
            "Wall time of one scaling tick (query, decide, patch).",
            buckets=_TICK_BUCKETS,
            registry=r,
        )
        self.scaling_decisions_total = Counter(
            "gpufleet_scaling_decisions_total",
            "Scaling decisions, by ModelDeployment and ReasonCode.",
            [*MD_LABELS, "reason_code"],
            registry=r,
        )
        self.replicas_overridden_total = Counter(
            "gpufleet_replicas_overridden_total",
            "Changes of a model Deployment's replicas by another writer than the autoscaler "
            "(an HPA, a KEDA ScaledObject, kubectl scale), by ModelDeployment.",
            list(MD_LABELS),
            registry=r,
        )
        self.prometheus_read_duration_seconds = Histogram(
            "gpufleet_prometheus_read_duration_seconds",
            "Time to read the fleet's metrics from Prometheus, once per tick (its one query "
            "and the answer's parse); a read that reaches the query timeout fails.",
            buckets=_READ_BUCKETS,
            registry=r,
        )
        self.prometheus_query_errors_total = Counter(
            "gpufleet_prometheus_query_errors_total",
            "Prometheus queries that failed (unreachable, timeout, bad response).",
            registry=r,
        )

        # Per-ModelDeployment state, refreshed every tick.
        def md_gauge(name: str, doc: str) -> Gauge:
            return Gauge(name, doc, list(MD_LABELS), registry=r)

        self.desired_replicas = md_gauge(
            "gpufleet_modeldeployment_desired_replicas", "Replicas the autoscaler decided on."
        )
        self.ready_replicas = md_gauge(
            "gpufleet_modeldeployment_ready_replicas", "Replicas passing readiness."
        )
        self.hourly_cost_dollars = md_gauge(
            "gpufleet_modeldeployment_hourly_cost_dollars", "USD per hour at the desired replicas."
        )
        self.budget_dollars_per_hour = md_gauge(
            "gpufleet_modeldeployment_budget_dollars_per_hour", "spec.cost.maxHourlyCost, USD/h."
        )
        self.p95_latency_seconds = md_gauge(
            "gpufleet_modeldeployment_p95_latency_seconds",
            "Measured p95 request latency; NaN when unknown.",
        )
        self.slo_target_seconds = md_gauge(
            "gpufleet_modeldeployment_slo_target_seconds",
            "spec.slo.latencyP95Ms, in seconds; NaN when the spec sets no request-latency target.",
        )
        self.slo_met = md_gauge(
            "gpufleet_modeldeployment_slo_met", "1 when the measured p95 meets the target, else 0."
        )
        self.metrics_available = md_gauge(
            "gpufleet_modeldeployment_metrics_available",
            "1 when the metrics the autoscaler needs are known, else 0.",
        )
        self.cost_capped = md_gauge(
            "gpufleet_modeldeployment_cost_capped",
            "1 when the budget holds replicas below what the load needs, else 0.",
        )
        self.unschedulable_replicas = md_gauge(
            "gpufleet_modeldeployment_unschedulable_replicas",
            "Pods the scheduler cannot place (PodScheduled=False, Unschedulable).",
        )
        self._md_gauges: tuple[Gauge, ...] = (
            self.unschedulable_replicas,
            self.desired_replicas,
            self.ready_replicas,
            self.hourly_cost_dollars,
            self.budget_dollars_per_hour,
            self.p95_latency_seconds,
            self.slo_target_seconds,
            self.slo_met,
            self.metrics_available,
            self.cost_capped,
        )

    @contextmanager
    def time_reconcile(self, kind: str) -> Iterator[None]:
        """Count, time and (on exception) count as error one reconcile; re-raises."""
        self.reconcile_total.labels(kind=kind).inc()
        with self.reconcile_duration_seconds.labels(kind=kind).time():
            try:
                yield
            except BaseException:
                self.reconcile_errors_total.labels(kind=kind).inc()
                raise

    @contextmanager
    def time_tick(self) -> Iterator[None]:
        """Count, time and (on exception) count as error one scaling tick; re-raises."""
        self.scaling_ticks_total.inc()
        with self.scaling_tick_duration_seconds.time():
            try:
                yield
            except BaseException:
                self.scaling_tick_errors_total.inc()
                raise

    def record_decision(self, namespace: str, name: str, reason_code: str) -> None:
        self.scaling_decisions_total.labels(namespace, name, reason_code).inc()

    def count_replicas_overridden(self, namespace: str, name: str) -> None:
        self.replicas_overridden_total.labels(namespace, name).inc()

    def set_state(
        self,
        namespace: str,
        name: str,
        *,
        desired_replicas: int,
        ready_replicas: int,
        hourly_cost: float,
        max_hourly_cost: float,
        p95_latency_ms: float | None,
        slo_target_ms: float | None,
        slo_met: bool | None,
        metrics_available: bool,
        cost_capped: bool,
        unschedulable_replicas: int = 0,
    ) -> None:
        """Publish one ModelDeployment's state after a tick.

        ``slo_met=None`` (unknown) is exported as NaN, so ``slo_met == 0`` (the
        SLO alert) never fires on missing metrics; the metrics-lost alert does.
        """
        labels = (namespace, name)
        self.desired_replicas.labels(*labels).set(desired_replicas)
        self.ready_replicas.labels(*labels).set(ready_replicas)
        self.hourly_cost_dollars.labels(*labels).set(hourly_cost)
        self.budget_dollars_per_hour.labels(*labels).set(max_hourly_cost)
        self.p95_latency_seconds.labels(*labels).set(
            math.nan if p95_latency_ms is None else p95_latency_ms / 1000.0
        )
        self.slo_target_seconds.labels(*labels).set(
            math.nan if slo_target_ms is None else slo_target_ms / 1000.0
        )
        self.slo_met.labels(*labels).set(math.nan if slo_met is None else float(slo_met))
        self.metrics_available.labels(*labels).set(float(metrics_available))
        self.cost_capped.labels(*labels).set(float(cost_capped))
        self.unschedulable_replicas.labels(*labels).set(unschedulable_replicas)
        # At 0 from the first tick: a series born at 1 shows no increase to an alert.
        self.replicas_overridden_total.labels(*labels)

    def forget(self, namespace: str, name: str) -> None:
        """Drop a deleted ModelDeployment's series so dashboards stop showing it."""
        for gauge in self._md_gauges:
            with suppress(KeyError):  # never published: deleted before its first tick
                gauge.remove(namespace, name)
        with suppress(KeyError):
            self.replicas_overridden_total.remove(namespace, name)
        # Decision counters are keyed by reason too; remove every reason seen.
        for labels in _label_sets(self.scaling_decisions_total):
            if labels[:2] == (namespace, name):
                self.scaling_decisions_total.remove(*labels)

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes (also handy in tests)."""
        return generate_latest(self.registry)

    def serve(self, port: int, addr: str | None = None) -> WSGIServer:
        """Serve ``/metrics`` on ``addr:port`` from a daemon thread; returns the server.

        Every address of both families by default (``addr`` None): in a pod, Prometheus
        scrapes the pod IP, which on an IPv6-only cluster is IPv6 only; on a kernel
        without IPv6, every IPv4 address. ``shutdown()`` the returned server to stop it.
        """
        if addr is not None:
            server, _thread = start_http_server(port, addr=addr, registry=self.registry)
            return server
        app = make_wsgi_app(self.registry)
        try:
            server = make_server("::", port, app, _DualStackServer, handler_class=_QuietHandler)
        except OSError as error:
            if error.errno not in NO_IPV6:
                raise
            server = make_server("0.0.0.0", port, app, ThreadingWSGIServer, _QuietHandler)
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        return server


NO_IPV6: Final = frozenset({errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT, errno.EADDRNOTAVAIL})
"""What creating or binding an IPv6 socket fails with where the kernel has no IPv6 (or
it is switched off)."""


class _DualStackServer(ThreadingWSGIServer):
    """One IPv6 socket on ``::`` that takes IPv4 connections too (as ``::ffff:a.b.c.d``)."""

    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        # Linux accepts IPv4 on `::` by default, but a node may set net.ipv6.bindv6only=1
        # (and asyncio sets IPV6_V6ONLY itself): ask for both families explicitly.
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


class _QuietHandler(WSGIRequestHandler):
    """No line per request: Prometheus scrapes every few seconds."""

    def log_message(self, format: str, *args: object) -> None:
        pass


def _label_sets(metric: Counter) -> list[tuple[str, ...]]:
    """Label value tuples a labelled metric has children for."""
    return [
        tuple(sample.labels[name] for name in (*MD_LABELS, "reason_code"))
        for family in metric.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    ]


def metric_names(metrics: OperatorMetrics) -> frozenset[str]:
    """Every sample name the registry can expose (``_total``, ``_bucket``... included)."""
    names: set[str] = set()
    for family in metrics.registry.collect():
        # A counter family is named without ``_total``; only the suffixed names exist.
        suffixes = {
            "counter": ("_total", "_created"),
            "histogram": ("_bucket", "_count", "_sum", "_created"),
        }.get(family.type, ("",))
        names.update(family.name + suffix for suffix in suffixes)
    return frozenset(names)
