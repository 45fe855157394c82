"""The ModelDeployment the gpufleet policy runs with: a manifest file or defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gpufleet import KIND
from gpufleet.domain.manifest_file import model_deployment_spec, read_objects
from gpufleet.domain.spec import ModelDeploymentSpec, SpecError, parse_spec
from gpufleet.text_file import read_utf8


def load_manifest(path: Path) -> ModelDeploymentSpec:
    """Parse a ModelDeployment YAML (the first ModelDeployment in it, or in a ``List``; a
    document without ``kind`` is one, and without ``spec`` is the spec itself). A file
    that is not one raises a ``ValueError`` naming the line or document."""
    for obj in read_objects(read_utf8(path), str(path), kindless=KIND):
        if obj.kind != KIND:
            continue
        if obj.api_version is None:
            spec = obj.body.get("spec", obj.body)
            if not isinstance(spec, dict):
                raise SpecError("", f"{obj.where}: spec must be a mapping")
        else:
            spec = model_deployment_spec(obj)
        return parse_spec(spec)
    raise SpecError("", f"{path}: no ModelDeployment document")


def default_spec(
    *,
    slo_ms: float | None,
    cold_start_s: float,
    max_replicas: int,
    gpu_hourly_price: float,
    ttft_ms: float | None = None,
    itl_ms: float | None = None,
    tpot_ms: float | None = None,
) -> ModelDeploymentSpec:
    """A spec with every gpufleet default except the SLO, cold start and a roomy ceiling
    (an LLM fleet's: ``runtime.type: vllm`` with its TTFT, ITL and TPOT targets)."""
    slo = {"latencyP95Ms": slo_ms, "ttftP95Ms": ttft_ms, "itlP95Ms": itl_ms, "tpotP95Ms": tpot_ms}
    raw: dict[str, Any] = {
        "model": {"name": "sim", "repository": "pvc://sim/model"},
        "slo": {k: v for k, v in slo.items() if v is not None},
        # Budget large enough never to bind: the comparison is about the policy.
        "cost": {"maxHourlyCost": 1e6, "gpuHourlyPrice": gpu_hourly_price},
        "scaling": {
            "maxReplicas": max_replicas,
            "coldStartSeconds": max(1, round(cold_start_s)),
        },
    }
    if any(t is not None for t in (ttft_ms, itl_ms, tpot_ms)):
        raw["runtime"] = {"type": "vllm"}
    return parse_spec(raw)


def with_overrides(
    spec: ModelDeploymentSpec, *, slo_ms: float | None, cold_start_s: float | None
) -> ModelDeploymentSpec:
    """The spec with the command line's SLO / cold start, validated again."""
    raw = spec.to_wire()
    if slo_ms is not None:
        raw["slo"] = {"latencyP95Ms": slo_ms}
    if cold_start_s is not None:
        raw.setdefault("scaling", {})["coldStartSeconds"] = max(1, round(cold_start_s))
    return parse_spec(raw)
