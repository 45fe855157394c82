"""Settings of one simulated run: the fleet, the cold start, the metrics pipeline."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class ColdStart(BaseModel):
    """Delay from pod creation to ready: fixed, uniform, or lognormal around ``seconds``."""

    # "inf" parses as a float; an endless cold start is no setting, and breaks the spec.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    seconds: Annotated[float, Field(ge=0)] = 60.0
    distribution: Literal["fixed", "uniform", "lognormal"] = "fixed"
    spread: Annotated[float, Field(ge=0)] = 0.0
    """uniform: +/- this many seconds; lognormal: sigma of log(delay)."""

    @classmethod
    def parse(cls, text: str) -> ColdStart:
        """``60``, ``uniform:60:20`` (60 +/- 20 s) or ``lognormal:60:0.3`` (median 60 s)."""
        parts = text.split(":")
        usage = f"cold start {text!r}: expected N, uniform:N:SPREAD or lognormal:N:SIGMA"
        try:
            if len(parts) == 1:
                return cls(seconds=float(parts[0]))
            if len(parts) == 3 and parts[0] in ("fixed", "uniform", "lognormal"):
                return cls(seconds=float(parts[1]), distribution=parts[0], spread=float(parts[2]))
        except ValueError as exc:
            raise ValueError(usage) from exc
        raise ValueError(usage)

    def sample(self, rng: np.random.Generator) -> float:
        if self.distribution == "uniform":
            return max(
                0.0, float(rng.uniform(self.seconds - self.spread, self.seconds + self.spread))
            )
        if self.distribution == "lognormal":
            return float(self.seconds * np.exp(rng.normal(0.0, self.spread)))
        return self.seconds


class SimSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    slo_ms: Annotated[float, Field(gt=0, description="Latency target of every request.")] = 3000.0
    ttft_ms: Annotated[float | None, Field(gt=0)] = None
    """LLM: time-to-first-token target; with ``tpot_ms`` or ``itl_ms`` it replaces ``slo_ms``
    as the target."""
    itl_ms: Annotated[float | None, Field(gt=0)] = None
    """LLM: inter-token latency target, a p95 of every gap: a request meets it when 95 %
    of its gaps between two tokens do."""
    tpot_ms: Annotated[float | None, Field(gt=0)] = None
    """LLM: time-per-output-token target (a request's mean gap between tokens)."""
    attainment_target: Annotated[float, Field(gt=0, le=1)] = 0.99
    cold_start: ColdStart = ColdStart()
    request_timeout_s: Annotated[
        float, Field(gt=0, description="A request not answered within this fails.")
    ] = 60.0
    routing: Literal["random", "least-outstanding"] = "random"
    """``random``: a ClusterIP Service (kube-proxy picks a pod per connection);
    ``least-outstanding``: a least-request gateway in front of the pods."""
    seed: int = 0
    gpus_per_replica: Annotated[int, Field(ge=0)] = 1
    gpu_hourly_price: Annotated[float, Field(gt=0)] = 0.80
    initial_replicas: Annotated[int | None, Field(ge=0)] = None
    """Ready replicas at t=0; ``None``: enough for the first minute at 70 % of capacity."""
    initial_pod_age_s: Annotated[float | None, Field(ge=0)] = None
    """How long before t=0 the initial replicas' pods were created: Prometheus discovers
    a pod within its discovery throttle of its creation, so a fleet started moments before
    the trace goes unscraped for its first seconds. ``None``: a fleet running long before
    the trace, scraped from t=0."""
    pre_stop_s: Annotated[float, Field(ge=0)] = 10.0
    """A removed pod's preStop pause: it serves what it holds while endpoints drop it."""
    drain_timeout_s: Annotated[float, Field(ge=0)] = 30.0
    """After preStop, how long the server drains on SIGTERM before what it holds fails."""
    min_replicas: Annotated[int, Field(ge=0)] = 1
    max_replicas: Annotated[int, Field(ge=1)] = 100
    scrape_interval_s: Annotated[float, Field(gt=0)] = 5.0
    """Prometheus scrape interval (the operator's rate window and staleness come from
    its ``OperatorSettings``)."""
    metrics_outages: tuple[tuple[float, float], ...] = ()
    """(start, end) seconds during which Prometheus scrapes fail (no samples)."""
    model_errors: tuple[tuple[float, float], ...] = ()
    """(start, end) seconds during which the model fails every execution at once (a bad
    model version, a GPU fault): its requests fail as errors (Triton's ``BACKEND``)."""
    node_losses: tuple[tuple[float, int], ...] = ()
    """(at, pods): a GPU node stops answering at ``at`` seconds with ``pods`` of the ready
    pods on it (a kernel panic, a lost network link, a GPU falling off the bus; see
    ``gpufleet.sim.fleet``)."""
    timeline_s: Annotated[float, Field(gt=0)] = 5.0

    @property
    def replica_hourly_cost(self) -> float:
        # A GPU-less replica is billed as one unit, as in gpufleet.domain.pricing.
        return max(self.gpus_per_replica, 1) * self.gpu_hourly_price
