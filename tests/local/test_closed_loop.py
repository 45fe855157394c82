"""The closed loop on real processes: load -> Prometheus -> operator -> Deployment -> pods.

A burst arrives: replicas rise and latency comes back within the target; the burst
ends: once the pods held in case it returns are released, replicas fall, and no
request fails while pods drain. Losing Prometheus: the operator holds replicas and says so.

The burst runs on the Triton example: its replicas serve exactly 25 requests/s
(each request waits 40 ms, as on a GPU) at little CPU, so the scaling the test
expects does not depend on how busy this machine's two cores are. The torch
runtime's CPU-bound replicas are what the Prometheus test runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from rich.console import Console

from gpufleet.services.status import MODELDEPLOYMENTS
from gpufleet_devtools.local.demo import (
    DemoRun,
    apply_manifest,
    replay_against,
    wait_for_endpoint,
)
from gpufleet_devtools.local.demo_model import TRITON_INPUT
from gpufleet_devtools.local.endpoints import Endpoints
from gpufleet_devtools.local.fleet import LocalFleet
from gpufleet_devtools.local.kube import DEPLOYMENTS
from gpufleet_devtools.local.manifest import load_manifest
from gpufleet_devtools.local.paths import EXAMPLE_MANIFEST, TRITON_EXAMPLE_MANIFEST
from gpufleet_devtools.local.timeline import Sample, condition_status
from gpufleet_devtools.local.trace import poisson_phases
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.slow
QUIET = Console(quiet=True)
SHORT_WINDOWS = {"scaling": {"scaleDownStabilizationSeconds": 10, "coldStartSeconds": 5}}
CALM_RPS, BURST_RPS = 5.0, 35.0
"""The burst is 1.4 Triton replicas' worth: one cannot absorb it, two can."""
CALM_S, BURST_S = 10.0, 50.0
AFTER_S = 180.0
"""The burst stops at once, so its pods are held for 20 cold starts (ski rental: it could
come back as fast), some 60-160 s at these pods' 3-8 s starts, then released after the
10 s window. The replay ends earlier once a pod has drained (``_drained_after_burst``)."""
DRAIN_S = 15.0
"""Calm load kept on the fleet once a pod was released: its drain and termination."""


BURST_END_S = CALM_S + BURST_S


def _burst(samples: Sequence[Sample]) -> list[Sample]:
    return [s for s in samples if CALM_S <= s.t < BURST_END_S]


def _peak_desired(samples: Sequence[Sample]) -> int:
    """The most replicas asked for during the burst."""
    return max((s.desired or 0 for s in _burst(samples)), default=0)


def _drained_after_burst(samples: Sequence[Sample]) -> bool:
    """After the burst, fewer replicas asked for than at its peak, no more ready than
    asked for (the released pod has left the Service), and ``DRAIN_S`` of load since."""
    peak = _peak_desired(samples)
    scaled_in = [
        s for s in samples if s.t >= BURST_END_S and s.desired is not None and s.desired < peak
    ]
    in_ready = [s for s in scaled_in if s.ready <= (s.desired or 0)]
    return bool(in_ready) and samples[-1].t - in_ready[0].t >= DRAIN_S


async def test_replicas_follow_a_burst_and_scale_in_fails_no_request(fleet: LocalFleet) -> None:
    pytest.importorskip("pytriton", reason="nvidia-pytriton bundles the tritonserver binary")
    manifest = load_manifest(TRITON_EXAMPLE_MANIFEST, SHORT_WINDOWS)
    arrivals = poisson_phases([(CALM_S, CALM_RPS), (BURST_S, BURST_RPS), (AFTER_S, CALM_RPS)])
    run = DemoRun(arrivals, live=False, until=_drained_after_burst)
    result = await replay_against(fleet, manifest, run, QUIET, TRITON_INPUT)
    samples = result.timeline.samples
    story = [(round(s.t), s.desired, s.ready, round(s.p95_ms or 0)) for s in samples]
    target = manifest.spec.slo.latency_p95_ms
    assert target is not None  # the example sets a request-latency target
    burst = _burst(samples)
    peak = _peak_desired(samples)
    assert peak >= 2, story
    # Once absorbed (the last third of the burst), the fleet meets the target.
    absorbed = [s.p95_ms for s in burst if s.t >= CALM_S + BURST_S * 2 / 3 and s.p95_ms]
    assert absorbed
    assert sorted(absorbed)[len(absorbed) // 2] <= target, story
    # After the burst, the hold and the stabilization window, replicas come down ...
    assert (samples[-1].desired or 0) < peak, story
    # ... and draining pods fails nothing (nor does anything else).
    assert result.summary.failed == 0, result.summary.failure_reasons
    assert result.summary.max_hourly_cost <= manifest.spec.cost.max_hourly_cost


async def test_without_prometheus_the_operator_holds_replicas_and_says_so(
    fleet: LocalFleet,
) -> None:
    assert fleet.kube is not None
    kube = fleet.kube
    manifest = load_manifest(EXAMPLE_MANIFEST, SHORT_WINDOWS)
    await apply_manifest(kube, manifest)
    await wait_for_endpoint(Endpoints(kube, manifest.namespace, manifest.name), 90)

    async def metrics_available(expected: str) -> dict[str, Any] | None:
        md = await kube.get(MODELDEPLOYMENTS, manifest.namespace, manifest.name)
        return md if condition_status(md, "MetricsAvailable") == expected else None

    await wait_for_async(
        lambda: metrics_available("True"), timeout=60, what="MetricsAvailable=True"
    )

    async def configured_max_batch() -> Any:
        md = await kube.get(MODELDEPLOYMENTS, manifest.namespace, manifest.name)
        return ((md or {}).get("status") or {}).get("configuredMaxBatch")

    # The model's largest batch is not in its metrics: the operator asked a pod for its
    # configuration. This fleet's CPU model has a batch dimension (max_batch_size 8, as
    # the example's model.maxBatchSize says) but no dynamic batcher, so each request
    # executes alone: 1, what the server does, over what the spec declares.
    await wait_for_async(
        configured_max_batch, until=lambda v: v == 1, timeout=60, what="configuredMaxBatch 1"
    )
    deployment = await kube.get(DEPLOYMENTS, manifest.namespace, manifest.name)
    assert deployment is not None
    replicas = deployment["spec"]["replicas"]
    fleet.prometheus.stop(keep_data=True)
    lost = await wait_for_async(
        lambda: metrics_available("False"), timeout=30, what="MetricsAvailable=False"
    )
    message = next(
        c["message"] for c in lost["status"]["conditions"] if c["type"] == "MetricsAvailable"
    )
    assert message  # says what is unknown and why
    # That nothing changes can only be seen by letting ticks pass: a few of them.
    await asyncio.sleep(4 * fleet.options.tick_seconds)
    assert await metrics_available("False")
    held = await kube.get(DEPLOYMENTS, manifest.namespace, manifest.name)
    assert held is not None
    assert held["spec"]["replicas"] == replicas
    fleet.prometheus.start()
    await wait_for_async(
        lambda: metrics_available("True"), timeout=60, what="MetricsAvailable=True again"
    )
