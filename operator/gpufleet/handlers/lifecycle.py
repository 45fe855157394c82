"""Operator start-up and shutdown: kopf settings, API connection, shared context."""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import kopf

from gpufleet import GROUP
from gpufleet.handlers.context import OperatorContext
from gpufleet.k8s.client import KubernetesApi
from gpufleet.metrics.reader import ActivationValue, FleetMetricsReader
from gpufleet.metrics.sample import FleetSample
from gpufleet.observability.metrics import OperatorMetrics
from gpufleet.services.sampling import TickSampler
from gpufleet.settings import OperatorSettings


def configure_kopf(settings: kopf.OperatorSettings, config: OperatorSettings) -> None:
    # Progress and the last-handled spec live in annotations, so the status stays
    # exactly what the CRD's schema declares (nothing of kopf's gets pruned).
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    # No handler needs a finalizer (see handlers.autoscale); naming the one older
    # versions added lets kopf remove it from existing ModelDeployments.
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    # Events are posted on purpose, with reasons; not one per log line.
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 30
    # Serve the namespaces and resources known at start: no Namespace or CRD watches,
    # so no cluster-scoped read in RBAC (a new watched namespace or a CRD installed
    # later needs a restart, as `helm upgrade` does).
    settings.scanning.disabled = True
    # Equal priorities pause each other: a standby must run with a lower one. The
    # object is gpufleet's own: in kopf's `default` any other kopf-based operator is a
    # peer, and one at an equal priority would pause gpufleet.
    settings.peering.name = config.peering_name
    settings.peering.priority = config.peering_priority


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In-cluster service account, else the kubeconfig named by ``KUBECONFIG`` now.

    kopf's default login through kubernetes_asyncio reads ``KUBECONFIG`` once, at
    import time; kopf's own loaders read it when called.
    """
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # `gpufleet run --namespace` flags, which cli.run hands over in kopf's memo.
    config = OperatorSettings.from_env(dict(os.environ), memo.get("namespaces") or ())
    configure_kopf(settings, config)
    ctx = OperatorContext(settings=config, api=await KubernetesApi.connect())
    metrics = memo.get("metrics")
    if isinstance(metrics, OperatorMetrics):
        ctx.metrics = metrics  # the instance `gpufleet run --metrics-port` serves
    if config.autoscaling_enabled:
        source = MeasuredReader(FleetMetricsReader(config), ctx.metrics)
        # A little under one tick: every timer of a tick shares one set of queries.
        ctx.sampler = TickSampler(source, max_age=0.8 * config.tick_seconds)
    memo["gpufleet"] = ctx


class MeasuredReader:
    """The fleet's metrics reader, its reads timed and its failed queries counted in the
    operator's own metrics: a read that nears ``GPUFLEET_QUERY_TIMEOUT_SECONDS`` shows
    before ticks go blind on it."""

    def __init__(self, reader: FleetMetricsReader, metrics: OperatorMetrics) -> None:
        self._reader = reader
        self._metrics = metrics

    async def sample(self) -> FleetSample:
        started = time.perf_counter()
        sample = await self._reader.sample()
        self._metrics.prometheus_read_duration_seconds.observe(time.perf_counter() - started)
        if sample.read_error is not None:
            self._metrics.prometheus_query_errors_total.inc()
        return sample

    async def activation(self, promql: str) -> ActivationValue:
        value = await self._reader.activation(promql)
        if value.error is not None:
            self._metrics.prometheus_query_errors_total.inc()
        return value


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    ctx = memo.get("gpufleet")
    if isinstance(ctx, OperatorContext):
        ctx.stopping.set()
        await ctx.api.close()
