"""Operator start-up and shutdown: kopf settings, API connection, shared context."""

from __future__ import annotations

import logging
import os
from typing import Any

import kopf

from gpufleet import GROUP
from gpufleet.handlers.context import OperatorContext
from gpufleet.k8s.client import KubernetesApi
from gpufleet.observability.metrics import OperatorMetrics
from gpufleet.settings import OperatorSettings


def configure_kopf(settings: kopf.OperatorSettings) -> None:
    # Progress and the last-handled spec live in annotations, so the status stays
    # exactly what the CRD's schema declares (nothing of kopf's gets pruned).
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    # Events are posted on purpose, with reasons; not one per log line.
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 30


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In-cluster service account, else the kubeconfig named by ``KUBECONFIG`` now.

    kopf's default login through kubernetes_asyncio reads ``KUBECONFIG`` once, at
    import time; kopf's own loaders read it when called.
    """
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    configure_kopf(settings)
    config = OperatorSettings.from_env(dict(os.environ))
    ctx = OperatorContext(settings=config, api=await KubernetesApi.connect())
    metrics = memo.get("metrics")
    if isinstance(metrics, OperatorMetrics):
        ctx.metrics = metrics  # the instance `gpufleet run --metrics-port` serves
    memo["gpufleet"] = ctx


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    ctx = memo.get("gpufleet")
    if isinstance(ctx, OperatorContext):
        await ctx.api.close()
