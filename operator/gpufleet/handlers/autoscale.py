"""The scaling loop: a kopf daemon per ModelDeployment, ticking every ``GPUFLEET_TICK_SECONDS``.

Inputs come without extra API calls: the Deployment and its pods from watch-fed
indexes, metrics from one shared fleet-wide sample per tick. Status is written when
something a person acts on changes (see :class:`gpufleet.services.autoscale.TickOutcome`).

Why a daemon registered without a finalizer, not a ``kopf.timer``: kopf gives every
timer and daemon a finalizer, so that it can stop them before the object goes. A
finalizer makes deleting a ModelDeployment hang while the operator is down. This loop
needs no such guarantee: it stops itself when the watch reports its ModelDeployment
deleted, and nothing of it outlives the object but a few numbers in
memory, dropped on the way out. Children go by ownerReference garbage collection.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

import kopf

from gpufleet import GROUP, PLURAL, VERSION
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.scaling.pause import pause_of
from gpufleet.domain.scaling.types import Bound, ReasonCode, ScalerHistory
from gpufleet.domain.spec import SpecError
from gpufleet.handlers.context import OperatorContext, context_of
from gpufleet.handlers.pods import Key, observe, observed_at_write
from gpufleet.handlers.reporting import post_events
from gpufleet.k8s.errors import KubernetesApiError
from gpufleet.services.autoscale import autoscale_tick, history_from_status
from gpufleet.services.reconcile import validate
from gpufleet.services.status import combine, update_status

ROUTINE_HOLDS = frozenset(
    {ReasonCode.STEADY, ReasonCode.SCALE_DOWN_STABILIZING, ReasonCode.WAITING_FOR_STARTING_PODS}
)


def _without_finalizer(fn: Callable[..., Any]) -> None:
    """Register ``fn``'s daemon as needing no finalizer (kopf's decorator forces one)."""
    spawning = kopf.get_default_registry()._spawning
    found = False
    for position, handler in enumerate(spawning._handlers):
        if handler.fn is fn:
            spawning._handlers[position] = dataclasses.replace(handler, requires_finalizer=False)
            found = True
    if not found:  # kopf's registry changed shape: fail loudly, never add a finalizer
        raise RuntimeError(f"{fn.__name__} is not registered as a kopf daemon")


@kopf.on.event(GROUP, VERSION, PLURAL)
def modeldeployment_event(event: kopf.RawEvent, uid: str, memo: kopf.Memo, **_: Any) -> None:
    """A deletion ends the ModelDeployment's scaling loop at once (there is no finalizer)."""
    ctx = memo.get("gpufleet")
    if event.get("type") == "DELETED" and isinstance(ctx, OperatorContext):
        deleted = ctx.deleted.get(uid)
        if deleted is not None:
            deleted.set()


def _indexed(indexes: dict[str, Any], key: Key, uid: str) -> bool:
    modeldeployments: kopf.Index[Key, dict[str, Any]] = indexes["modeldeployments"]
    return any(entry["uid"] == uid for entry in modeldeployments.get(key, []))


async def _sleep(
    stopped: kopf.DaemonStopped, events: tuple[asyncio.Event, ...], seconds: float
) -> None:
    """Until the next tick, kopf stopping the daemon, or one of ``events``."""
    # The time limit is asyncio's: kopf's own (stopped.wait(seconds)) ends in a
    # TimeoutError of a task of its own, which escapes when the loop is cancelled.
    waits: set[asyncio.Future[Any]] = {asyncio.ensure_future(stopped.wait())}
    waits |= {asyncio.ensure_future(event.wait()) for event in events}
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when cancelled: no waiter may outlive the loop
        for wait in waits:
            wait.cancel()


@kopf.daemon(GROUP, VERSION, PLURAL, cancellation_timeout=5.0)
async def autoscale(
    stopped: kopf.DaemonStopped,
    body: kopf.Body,
    namespace: str | None,
    name: str,
    uid: str,
    memo: kopf.Memo,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    **indexes: Any,
) -> None:
    ctx = context_of(memo)
    key = (namespace or "", name)
    if uid not in ctx.histories:
        # A restart: start from what the last operator learned (kept in status).
        ctx.histories[uid] = history_from_status(body.get("status"))
    deleted = ctx.deleted.setdefault(uid, asyncio.Event())
    loop = asyncio.get_running_loop()
    started = loop.time()
    ticks = 0
    while not stopped and not ctx.stopping.is_set():
        if deleted.is_set() or not _indexed(indexes, key, uid):
            # Deleted (the watch said so, or the index no longer holds it: a deletion
            # seen before this loop started).
            ctx.forget(uid, *key)
            return
        try:
            await _tick(ctx, body, key, uid, logger, indexes)
        except KubernetesApiError as error:
            logger.warning(f"scaling tick failed, retrying next tick: {error}")
        except Exception:
            # One bad tick must not end the loop: the next one starts from scratch.
            logger.exception("scaling tick failed")
        ticks += 1
        # Sharp ticks: a slow tick does not push the next ones later.
        next_tick = started + ticks * ctx.settings.tick_seconds
        await _sleep(stopped, (deleted, ctx.stopping), max(0.0, next_tick - loop.time()))


_without_finalizer(autoscale)


async def _tick(
    ctx: OperatorContext,
    body: kopf.Body,
    key: Key,
    uid: str,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    indexes: dict[str, Any],
) -> None:
    namespace, name = key
    try:
        parsed, price = validate(dict(body.get("spec") or {}), ctx.settings.gpu_prices, name)
    except SpecError:
        return  # reported by the reconcile handler; nothing to scale
    now = time.time()
    observed = observe(indexes, key, parsed, now)
    if observed.deployment is None:
        return  # the Deployment is not there (yet); reconciliation restores it
    generation = body.meta.get("generation")
    # Re-judged every tick: a pending pod crosses the provisioning timeout, and the
    # activation just measured decides Ready at zero, without any event.
    observed_now = observed_at_write(indexes, key, parsed, price, generation)
    if not ctx.settings.autoscaling_enabled or ctx.sampler is None:
        if observed.pods.unschedulable:
            post_events(body, (await update_status(ctx.api, namespace, name, observed_now)).events)
        return
    replicas, ready = observed.deployment.replicas, observed.deployment.ready
    with ctx.metrics.time_tick():
        outcome = await autoscale_tick(
            ctx.api,
            ctx.sampler,
            Owner(name, namespace, uid),
            parsed,
            price,
            observed,
            ctx.histories.get(uid, ScalerHistory()),
            now,
            ctx.tuning,
            ctx.configured_batches.largest_batch(uid, parsed, observed.pods.http_addresses),
            pause_of(body.meta.get("annotations")),
            ctx.replica_writes,
        )
        ctx.histories[uid] = outcome.decision.history
        compute = combine(
            outcome.status(generation, now, ctx.status_written.get(uid, 0.0)), observed_now
        )
        write = await update_status(ctx.api, namespace, name, compute, known=body)
    decision = outcome.decision
    code = decision.reason_code.value
    # Scaling, and entering or leaving a state a person acts on (metrics lost, a limit
    # or the budget reached), in the log too, not only in Events (which expire); the
    # holds a need hovering at a boundary flips between are not worth a line each.
    state = "holding" if decision.reason_code in ROUTINE_HOLDS else code
    if ctx.last_reason_codes.get(uid) != state or decision.desired_replicas != replicas:
        logger.info(f"{code}: {decision.reason}")
        ctx.last_reason_codes[uid] = state
    ctx.metrics.record_decision(namespace, name, code)
    ctx.metrics.set_state(
        namespace,
        name,
        desired_replicas=decision.desired_replicas,
        ready_replicas=ready,
        hourly_cost=decision.hourly_cost,
        max_hourly_cost=parsed.cost.max_hourly_cost,
        p95_latency_ms=outcome.observations.p95_latency_ms,
        slo_target_ms=parsed.slo.latency_p95_ms,
        slo_met=decision.slo_met,
        metrics_available=decision.metrics_available,
        cost_capped=Bound.BUDGET in decision.bounds_hit,
        unschedulable_replicas=len(observed.pods.unschedulable),
    )
    if write.written:
        ctx.status_written[uid] = now
    post_events(body, write.events)
