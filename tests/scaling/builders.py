"""Small builders for policy tests: a spec, a fleet, observations of a steady load."""

from __future__ import annotations

from typing import Any

from gpufleet.domain.scaling.policy import decide
from gpufleet.domain.scaling.types import Decision, FleetState, Observations, ScalerHistory
from gpufleet.domain.spec import ModelDeploymentSpec, parse_spec

# One replica runs batches of b requests in 600 + 300*b ms (the simulator's default
# LLM profile): batch 1 takes 900 ms, batch 4 takes 1.8 s.
FIXED_MS = 600.0
PER_REQUEST_MS = 300.0
PRICE = 1.0


def spec(
    *,
    target_ms: float = 3000.0,
    budget: float = 1000.0,
    price: float | None = PRICE,
    slo: dict[str, float] | None = None,
    max_batch_size: int | None = None,
    **scaling: Any,
) -> ModelDeploymentSpec:
    """``slo`` replaces the default ``{"latencyP95Ms": target_ms}``."""
    model: dict[str, Any] = {"name": "llm", "repository": "s3://models/llm"}
    if max_batch_size is not None:
        model["maxBatchSize"] = max_batch_size
    raw: dict[str, Any] = {
        "model": model,
        "slo": {"latencyP95Ms": target_ms} if slo is None else slo,
        "cost": {"maxHourlyCost": budget},
        "scaling": {"minReplicas": 1, "maxReplicas": 50, "coldStartSeconds": 60, **scaling},
    }
    if price is not None:
        raw["cost"]["gpuHourlyPrice"] = price
    return parse_spec(raw)


def fleet(
    replicas: int,
    ready: int | None = None,
    *,
    gpus: int = 1,
    unplaceable: int = 0,
    uncreated: int = 0,
    failing: int = 0,
    crash_looping: int = 0,
    lost: int = 0,
    node_lost: int = 0,
) -> FleetState:
    return FleetState(
        replicas=replicas,
        ready_replicas=replicas if ready is None else ready,
        gpus_per_replica=gpus,
        gpu_hourly_price=PRICE,
        unplaceable_replicas=unplaceable,
        uncreated_replicas=uncreated,
        failing_replicas=failing,
        crash_looping_replicas=crash_looping,
        lost_replicas=lost,
        node_lost_replicas=node_lost,
    )


def load(
    at: float,
    rate: float,
    *,
    batch: float = 1.0,
    queue: float = 0.0,
    p95_ms: float | None = None,
    pods: int = 1,
) -> Observations:
    """What the metrics reader reports for a steady ``rate`` served in batches of ``batch``.

    The p95 defaults to two batch times: the wait for the batch in flight plus one's own.
    """
    exec_ms = FIXED_MS + PER_REQUEST_MS * batch
    if p95_ms is None:
        p95_ms = 2.0 * exec_ms
    return Observations(
        at=at,
        request_rate=rate,
        queue_depth=queue,
        p95_latency_ms=p95_ms,
        avg_latency_ms=exec_ms,
        avg_queue_ms=0.0,
        compute_ms_per_request=exec_ms,
        inferences_per_exec=batch,
        unserved_rate=0.0,
        pods_reporting=pods,
    )


def run(s: ModelDeploymentSpec, ticks: list[tuple[FleetState, Observations]]) -> Decision:
    """The last decision of a run of ticks, each at its observations' time."""
    history = ScalerHistory()
    decision = None
    for state, obs in ticks:
        decision = decide(s, state, obs, history, obs.at)
        history = decision.history
    assert decision is not None
    return decision


def unknown(at: float, reason: str = "Prometheus unreachable: connection refused") -> Observations:
    signals = ("request_rate", "queue_depth", "p95_latency_ms")
    return Observations(at=at, unknown=dict.fromkeys(signals, reason))


class PodClock:
    """Pods that become ready ``cold_start_s`` after they are asked for (newest removed first)."""

    def __init__(self, replicas: int, cold_start_s: float) -> None:
        self.cold_start_s = cold_start_s
        self.started_at: list[float] = [-1e9] * replicas

    def state(self, now: float) -> FleetState:
        ready = sum(1 for t in self.started_at if now - t >= self.cold_start_s)
        return fleet(len(self.started_at), ready)

    def scale_to(self, replicas: int, now: float) -> None:
        while len(self.started_at) < replicas:
            self.started_at.append(now)
        del self.started_at[replicas:]
