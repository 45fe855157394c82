"""Assemble a comparison from user inputs: trace, profile, spec, simulation settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gpufleet.domain.manifests.deployment import PRE_STOP_SECONDS
from gpufleet.domain.pricing import check_budget, gpu_hourly_price
from gpufleet.domain.spec import ModelDeploymentSpec, parse_spec
from gpufleet.settings import OperatorSettings
from gpufleet.sim.catalog import Setup
from gpufleet.sim.llm import LlmProfile, with_llm_work
from gpufleet.sim.manifest import default_spec, load_manifest, with_overrides
from gpufleet.sim.profile import load_any_profile
from gpufleet.sim.settings import ColdStart, SimSettings
from gpufleet.sim.trace_files import load_trace

DEFAULT_SLO_MS = 3000.0
DEFAULT_COLD_START_S = 60.0
DEFAULT_MAX_REPLICAS = 100
DEFAULT_TTFT_MS = 2000.0
DEFAULT_TPOT_MS = 100.0


@dataclass(frozen=True)
class ScenarioInputs:
    trace: str
    time_unit: str = "s"
    """Unit of the trace file's numeric timestamps (s, ms, us)."""
    rate_scale: float = 1.0
    duration: float | None = None
    token_sized: bool = False
    profile: Path | None = None
    manifest: Path | None = None
    slo_ms: float | None = None
    cold_start: str | None = None
    seed: int = 0
    routing: str = "random"
    request_timeout_s: float = 60.0
    attainment: float = 0.99
    initial_replicas: int | None = None
    initial_pod_age_s: float | None = None
    metrics_outages: tuple[tuple[float, float], ...] = ()
    model_errors: tuple[tuple[float, float], ...] = ()
    node_losses: tuple[tuple[float, int], ...] = ()
    ttft_ms: float | None = None
    itl_ms: float | None = None
    tpot_ms: float | None = None
    tick_s: float | None = None
    """The operator's scaling tick; None: the operator's default."""
    scrape_interval_s: float | None = None
    """Prometheus's scrape interval; None: the operator's default."""
    rate_window_s: float | None = None
    """The operator's ``rate()`` window; None: the operator's default."""


def operator_settings(inputs: ScenarioInputs) -> OperatorSettings:
    """The simulated operator's settings: its defaults, or the ones a fleet really runs with."""
    given = {
        "tick_seconds": inputs.tick_s,
        "scrape_interval_seconds": inputs.scrape_interval_s,
        "rate_window_seconds": inputs.rate_window_s,
    }
    stale_after = OperatorSettings.model_fields["stale_after_seconds"].default
    if inputs.scrape_interval_s is not None and inputs.scrape_interval_s > stale_after:
        # The operator refuses a staleness limit under one scrape interval, and no flag
        # sets it: a fleet scraped this rarely runs with the least limit it accepts.
        given["stale_after_seconds"] = inputs.scrape_interval_s
    return OperatorSettings(**{k: v for k, v in given.items() if v is not None})


def _given_or(given: float | None, default: float) -> float:
    # Not `given or default`: a target of 0 is refused by the spec, not replaced unseen.
    return default if given is None else given


def _default_tpot(inputs: ScenarioInputs) -> float | None:
    """The TPOT target: the one given, else the default unless an ITL target stands in."""
    if inputs.tpot_ms is not None or inputs.itl_ms is not None:
        return inputs.tpot_ms
    return DEFAULT_TPOT_MS


def _with_llm_targets(spec: ModelDeploymentSpec, inputs: ScenarioInputs) -> ModelDeploymentSpec:
    """The manifest's spec with each target given on the command line set in its SLO."""
    # Not --slo-ms: an LLM run is scored on its token targets (as without a manifest).
    given = {
        "ttftP95Ms": inputs.ttft_ms,
        "itlP95Ms": inputs.itl_ms,
        "tpotP95Ms": inputs.tpot_ms,
    }
    if all(v is None for v in given.values()):
        return spec
    raw = spec.to_wire()
    raw["slo"] = {**raw.get("slo", {}), **{k: v for k, v in given.items() if v is not None}}
    return parse_spec(raw)


def build(inputs: ScenarioInputs) -> tuple[Setup, SimSettings]:
    operator = operator_settings(inputs)
    profile = load_any_profile(inputs.profile)
    llm = isinstance(profile, LlmProfile)
    cold = ColdStart.parse(inputs.cold_start) if inputs.cold_start else None
    if inputs.manifest is not None:
        manifest = load_manifest(inputs.manifest)
        if llm:
            # The token flags set their targets in the manifest's SLO, beside the others:
            # they were ignored (the run used the manifest's), and --slo-ms replaced the
            # whole SLO, token targets and all, for an error that no token target was set.
            manifest = _with_llm_targets(manifest, inputs)
        spec = with_overrides(
            manifest,
            slo_ms=None if llm else inputs.slo_ms,
            cold_start_s=None if cold is None else cold.seconds,
        )
        if cold is None:
            cold = ColdStart(seconds=float(spec.scaling.cold_start_seconds))
    else:
        cold = cold or ColdStart(seconds=DEFAULT_COLD_START_S)
        spec = default_spec(
            slo_ms=None if llm else _given_or(inputs.slo_ms, DEFAULT_SLO_MS),
            cold_start_s=cold.seconds,
            max_replicas=DEFAULT_MAX_REPLICAS,
            gpu_hourly_price=operator.gpu_prices["nvidia-l4"],
            ttft_ms=_given_or(inputs.ttft_ms, DEFAULT_TTFT_MS) if llm else None,
            itl_ms=inputs.itl_ms if llm else None,
            tpot_ms=_default_tpot(inputs) if llm else None,
        )
    price = gpu_hourly_price(spec, operator.gpu_prices)
    if inputs.manifest is not None:
        # As the operator does: a budget that cannot pay for minReplicas is refused, not
        # simulated as a gpufleet fleet of none beside baselines that ignore the budget.
        check_budget(spec, price)
    slo = spec.slo
    if llm and all(t is None for t in (slo.ttft_p95_ms, slo.itl_p95_ms, slo.tpot_p95_ms)):
        raise ValueError(
            "slo.ttftP95Ms / slo.itlP95Ms / slo.tpotP95Ms: an LLM profile needs a token target"
        )
    if not llm and slo.latency_p95_ms is None:
        raise ValueError(
            "slo.latencyP95Ms: the request-level simulator needs a whole-request latency "
            "target (set it, or pass --slo-ms)"
        )
    settings = SimSettings(
        slo_ms=slo.latency_p95_ms or DEFAULT_SLO_MS,
        ttft_ms=slo.ttft_p95_ms if llm else None,
        itl_ms=slo.itl_p95_ms if llm else None,
        tpot_ms=slo.tpot_p95_ms if llm else None,
        attainment_target=inputs.attainment,
        cold_start=cold,
        request_timeout_s=inputs.request_timeout_s,
        routing=inputs.routing,
        pre_stop_s=PRE_STOP_SECONDS,
        drain_timeout_s=spec.runtime.exit_timeout_seconds,
        seed=inputs.seed,
        gpus_per_replica=spec.resources.gpus,
        gpu_hourly_price=price,
        initial_replicas=inputs.initial_replicas,
        initial_pod_age_s=inputs.initial_pod_age_s,
        min_replicas=spec.scaling.min_replicas,
        max_replicas=spec.scaling.max_replicas,
        scrape_interval_s=operator.scrape_interval_seconds,
        metrics_outages=inputs.metrics_outages,
        model_errors=inputs.model_errors,
        node_losses=inputs.node_losses,
    )
    trace = load_trace(
        inputs.trace,
        seed=inputs.seed,
        rate_scale=inputs.rate_scale,
        duration=inputs.duration,
        token_sized=inputs.token_sized,
        llm=llm,
        time_unit=inputs.time_unit,
    )
    if isinstance(profile, LlmProfile):
        if inputs.model_errors:
            raise ValueError("model errors are modelled on request-level profiles only, not LLM")
        trace = with_llm_work(trace, profile)
    return Setup(spec, profile, trace, operator), settings
