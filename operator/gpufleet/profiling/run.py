"""Profile a model: measure it (:mod:`gpufleet.profiling.measure`), fit the
simulator's batch-time model ``a + c * b`` to one request per batch size (end to
end), and -- with the server's metrics -- the model's compute time
``compute_a + compute_c * b`` to the same requests' compute counter; keep what was
measured at each concurrency beside what the fitted profile predicts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from gpufleet.profiling.measure import ModelFacts, Prober, ProfileError, server_counters
from gpufleet.sim.profile import (
    BatchPoint,
    ConcurrencyPoint,
    Measurements,
    ServiceProfile,
    fit_compute,
    fit_profile,
)


@dataclass(frozen=True)
class ProfilePlan:
    url: str
    model: str
    version: str = ""
    batch_sizes: tuple[int, ...] = ()
    """Empty: powers of two up to the model's max batch size."""
    concurrencies: tuple[int, ...] = (1, 2, 4, 8, 16)
    requests_per_batch: int = 30
    seconds_per_concurrency: float = 5.0
    metrics_url: str | None = None


def default_batch_sizes(max_batch: int) -> tuple[int, ...]:
    sizes = [1]
    while sizes[-1] * 2 < max_batch:
        sizes.append(sizes[-1] * 2)
    if max_batch > 1:
        sizes.append(max_batch)
    return tuple(sizes)


def predicted_rps(profile: ServiceProfile, concurrency: int) -> float:
    """Closed-loop throughput the profile predicts: the server batches what waits, and a
    batch smaller than the max waits the batcher's queue delay first (as the simulated
    replica does)."""
    batch = min(concurrency, profile.max_batch)
    waited = profile.max_queue_delay_ms / 1000.0 if batch < profile.max_batch else 0.0
    return batch / (waited + profile.batch_seconds(batch))


def batch_ms(facts: ModelFacts, point: BatchPoint) -> float:
    """A batch's mean time without the batcher's wait: a request of fewer items than the
    max batch waits ``max_queue_delay`` for company before it runs (the simulator's
    replica adds that wait itself). The mean, not the median: a replica's throughput is
    one over its mean batch time, slow executions included, and the compute counter it
    is fitted beside gives means too."""
    waited = facts.max_queue_delay_ms if point.batch < facts.max_batch else 0.0
    observed = point.mean_ms if point.mean_ms is not None else point.p50_ms
    return max(observed - waited, 1e-3)


def fit(facts: ModelFacts, points: list[BatchPoint], name: str) -> ServiceProfile:
    """The end-to-end fit, plus the compute fit when every point has its compute time."""
    sizes = [p.batch for p in points]
    means = [batch_ms(facts, p) for p in points]
    computes = [p.compute_ms for p in points if p.compute_ms is not None]
    compute: dict[str, float] = {}
    if len(computes) == len(points):
        compute_a, compute_c = fit_compute(sizes, computes)
        compute = {"compute_a_ms": compute_a, "compute_c_ms": compute_c}
    if len(set(sizes)) < 2:
        # One batch size (a model that does not batch): only a + c matters.
        return ServiceProfile(
            name=name,
            a_ms=0.0,
            c_ms=means[0] / sizes[0],
            max_batch=facts.max_batch,
            max_queue_delay_ms=facts.max_queue_delay_ms,
            **compute,
        )
    try:
        fitted = fit_profile(sizes, means, max_queue_delay_ms=facts.max_queue_delay_ms, name=name)
    except ValueError as error:
        raise ProfileError(
            f"{error}: the measurements are dominated by noise; measure longer "
            "(--requests) or on a quieter host"
        ) from error
    return fitted.model_copy(update={"max_batch": facts.max_batch, **compute})


def counter_increase(
    before: dict[str, float] | None, after: dict[str, float] | None
) -> dict[str, float] | None:
    """How much each of the server's counters grew; None without its metrics."""
    if before is None or after is None:
        return None
    return {k: after[k] - before[k] for k in after}


def compute_ms_per_request(increase: dict[str, float] | None) -> float | None:
    """The compute counter's growth per request: Triton credits every request with its
    batch's compute time, so this is the mean compute time of one execution as its
    requests saw it."""
    if increase is None or increase["nv_inference_request_success"] <= 0:
        return None
    return (
        increase["nv_inference_compute_infer_duration_us"]
        / increase["nv_inference_request_success"]
        / 1000.0
    )


async def _profile(plan: ProfilePlan) -> ServiceProfile:
    async with Prober(plan.url, plan.model, plan.version) as prober:
        facts = await prober.facts()
        sizes = plan.batch_sizes or default_batch_sizes(facts.max_batch)
        too_big = [b for b in sizes if b > facts.max_batch]
        if too_big:
            raise ProfileError(
                f"batch sizes {too_big} exceed the model's max_batch_size {facts.max_batch}"
            )
        batches = []
        for size in sizes:
            await prober.warm_up(facts, size)
            before = server_counters(plan.metrics_url, plan.model)
            got = await prober.alone(facts, size, plan.requests_per_batch)
            increase = counter_increase(before, server_counters(plan.metrics_url, plan.model))
            point = BatchPoint(
                batch=size,
                p50_ms=got.percentile_ms(50),
                p95_ms=got.percentile_ms(95),
                mean_ms=got.mean_ms(),
                compute_ms=compute_ms_per_request(increase),
            )
            batches.append(point)
        profile = fit(facts, batches, plan.model)
        points = []
        for concurrency in plan.concurrencies:
            before = server_counters(plan.metrics_url, plan.model)
            got = await prober.closed_loop(facts, concurrency, plan.seconds_per_concurrency)
            increase = counter_increase(before, server_counters(plan.metrics_url, plan.model))
            mean_batch = None
            if increase is not None and increase["nv_inference_exec_count"] > 0:
                mean_batch = increase["nv_inference_count"] / increase["nv_inference_exec_count"]
            points.append(
                ConcurrencyPoint(
                    concurrency=concurrency,
                    throughput_rps=len(got.seconds) / plan.seconds_per_concurrency,
                    p50_ms=got.percentile_ms(50),
                    p95_ms=got.percentile_ms(95),
                    mean_batch=mean_batch,
                    batch_ms=compute_ms_per_request(increase),
                    predicted_rps=predicted_rps(profile, concurrency),
                )
            )
    stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    source = f"gpufleet profile of {plan.model!r} at {plan.url}, {stamp}"
    return profile.model_copy(
        update={"source": source, "measured": Measurements(batches=batches, concurrency=points)}
    )


def profile_model(plan: ProfilePlan) -> ServiceProfile:
    """Measure the model as ``plan`` says and return its simulator profile."""
    return asyncio.run(_profile(plan))
