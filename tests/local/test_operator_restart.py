"""The operator killed mid-load on the local fleet, and started again.

Real parts: the operator process, Prometheus scraping tritonserver pods the node agent
runs, the load generator sending a steady load that one replica cannot serve. Once the
fleet has scaled up, measured its cold start and settled, the operator is killed
(SIGKILL: no chance to write anything) and a new one starts. The new one reads what the
old one learned from ``status.learned``: the Deployment never drops below the replicas
it had, no pod is added for the same load, and the learned values are kept rather than
started over from the priors.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gpufleet.k8s.client import KubernetesApi
from gpufleet.services.status import MODELDEPLOYMENTS
from gpufleet_devtools.local.demo import apply_manifest, wait_for_endpoint
from gpufleet_devtools.local.demo_model import TRITON_INPUT
from gpufleet_devtools.local.endpoints import Endpoints
from gpufleet_devtools.local.fleet import LocalFleet
from gpufleet_devtools.local.kube import DEPLOYMENTS
from gpufleet_devtools.local.loadgen import LoadGenerator
from gpufleet_devtools.local.manifest import load_manifest
from gpufleet_devtools.local.paths import TRITON_EXAMPLE_MANIFEST
from gpufleet_devtools.local.trace import poisson_phases
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.slow

STEADY_RPS = 25.0
"""One Triton replica's worth (each serves 25 requests/s flat out): one cannot serve it
within the target, two can with room (half busy), so the fleet settles at two."""
SETTLED_S = 10.0
"""The operator is killed once the replicas have not changed for this long, every pod
ready: well within the policy's settle time (``PolicyTuning.settle_s``), while the latency
window the new operator first reads may still hold the fleet's size before the scale-up --
what a restart must not take for a miss at this size."""
LOAD_S = 200.0
"""Longer than the test needs: the load is stopped once the new operator has decided."""
SPEC = {"scaling": {"coldStartSeconds": 5, "scaleDownStabilizationSeconds": 30}}
NEW_DECISIONS_S = 20.0
"""How long the new operator is watched: past a full decision-write interval (numbers
alone are written every 15 s at most), the span in which a scaler that forgot what a
replica serves would release or add pods."""


@dataclass
class ReplicaWatch:
    """The Deployment's replicas and the ModelDeployment's decisions, polled every 100 ms."""

    kube: KubernetesApi
    namespace: str
    name: str
    replicas: list[tuple[float, int]] = field(default_factory=list)
    """(monotonic time, the Deployment's spec.replicas)."""
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each decision written to status, by its ``decidedAt``."""

    async def run(self) -> None:
        while True:
            deployment = await self.kube.get(DEPLOYMENTS, self.namespace, self.name)
            if deployment is not None:
                sample = (time.monotonic(), int(deployment["spec"]["replicas"]))
                self.replicas.append(sample)
            md = await self.kube.get(MODELDEPLOYMENTS, self.namespace, self.name)
            decision = ((md or {}).get("status") or {}).get("decision")
            if decision:
                self.decisions[decision["decidedAt"]] = decision
            await asyncio.sleep(0.1)

    def unchanged_for(self, seconds: float) -> bool:
        """Whether the replicas have been the same for the last ``seconds``."""
        if not self.replicas or time.monotonic() - self.replicas[0][0] < seconds:
            return False
        since = time.monotonic() - seconds
        return len({n for t, n in self.replicas if t >= since}) == 1

    def decided_since(self, moment: datetime) -> list[dict[str, Any]]:
        return [d for at, d in sorted(self.decisions.items()) if _time(at) >= moment]


def _time(rfc3339: str) -> datetime:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))


def kill_operator(fleet: LocalFleet) -> None:
    """SIGKILL, as an OOM kill or a node loss would: the operator writes nothing more."""
    assert fleet.operator is not None
    os.killpg(fleet.operator.pid, signal.SIGKILL)
    fleet.operator.wait()


async def test_a_killed_operator_restarts_without_a_replica_dip_or_relearning(
    fleet: LocalFleet,
) -> None:
    pytest.importorskip("pytriton", reason="nvidia-pytriton bundles the tritonserver binary")
    assert fleet.kube is not None
    kube = fleet.kube
    manifest = load_manifest(TRITON_EXAMPLE_MANIFEST, SPEC)
    await apply_manifest(kube, manifest)
    endpoints = Endpoints(kube, manifest.namespace, manifest.name)
    await wait_for_endpoint(endpoints, 90)
    endpoints.start()
    loadgen = LoadGenerator(endpoints, manifest.spec.model.name, TRITON_INPUT)
    load = asyncio.create_task(loadgen.run(poisson_phases([(LOAD_S, STEADY_RPS)])))
    watch = ReplicaWatch(kube, manifest.namespace, manifest.name)
    watching = asyncio.create_task(watch.run())

    async def fleet_now() -> tuple[int, int, dict[str, Any], str]:
        """(replicas asked for, ready, status.learned, the decision's sentence)."""
        deployment = await kube.get(DEPLOYMENTS, manifest.namespace, manifest.name) or {}
        md = await kube.get(MODELDEPLOYMENTS, manifest.namespace, manifest.name)
        status = (md or {}).get("status") or {}
        wanted = int((deployment.get("spec") or {}).get("replicas") or 0)
        ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)
        reason = str((status.get("decision") or {}).get("reason"))
        return wanted, ready, dict(status.get("learned") or {}), reason

    try:
        scaled_to, _, learned, _ = await wait_for_async(
            fleet_now,
            until=lambda now: (
                now[0] >= 2
                and now[1] == now[0]
                and "coldStartSeconds" in now[2]
                and watch.unchanged_for(SETTLED_S)
            ),
            timeout=120,
            what="scaled up and settled, every pod ready, the cold start measured",
        )
        kill_operator(fleet)
        killed_at = len(watch.replicas)
        restarted = datetime.now(UTC)
        fleet.start_operator()
        new_decisions = await wait_for_async(
            lambda: watch.decided_since(restarted),
            until=lambda ds: (
                ds and _time(ds[-1]["decidedAt"]) >= restarted + timedelta(seconds=NEW_DECISIONS_S)
            ),
            timeout=60,
            what="the new operator's decisions",
        )
        md = await kube.get(MODELDEPLOYMENTS, manifest.namespace, manifest.name)
        status = (md or {}).get("status") or {}
    finally:
        for task in (load, watching):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await endpoints.stop()
    after_kill = [n for _, n in watch.replicas[killed_at:]]
    story = "\n".join(
        [f"before the kill: {scaled_to} replicas; after (every 10th sample): {after_kill[::10]}"]
        + [f"{d['decidedAt']} {d['reason']}" for d in new_decisions]
    )
    # No dip: the new operator released no pod the load still needed ...
    assert min(after_kill) >= scaled_to, story
    # ... and no burst: it added none either (the load did not change) ...
    assert max(after_kill) <= scaled_to, story
    # ... and it kept what the old one learned (a fresh scaler has measured no cold
    # start: no pod has started since it came up).
    assert set(learned) <= set(status["learned"]), (learned, status["learned"])
    assert status["learned"]["coldStartSeconds"] == pytest.approx(learned["coldStartSeconds"]), (
        learned,
        status["learned"],
    )
    assert not [r for r in loadgen.records if not r.ok]
