"""Replica service profile: how long a dynamic batch takes, and how big it may get.

A batch of ``b`` requests takes ``a + c * b`` milliseconds end to end (``c`` scaled
by the requests' sizes when the trace is token-sized): what a replica serves, HTTP
and (de)serialisation included. Of that, the model's own execution takes
``compute_a + compute_c * b``: the part a server credits to its compute counter
(Triton's ``nv_inference_compute_infer_duration_us``), which the operator reads to
rate a replica. A profile without the compute fit (older profiles, the shipped
ones, ``perf_analyzer`` fits) credits the whole batch time to compute.

The numbers come from a YAML/JSON file: the shipped default, one written by
``gpufleet profile`` from a running server (it also records what it measured,
under ``measured``), or one fitted from ``perf_analyzer`` results.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gpufleet.domain.manifest_file import read_yaml
from gpufleet.domain.spec.parse import field_path
from gpufleet.text_file import read_utf8

DEFAULT_PROFILE_PATH = Path(__file__).with_name("profiles") / "default.yaml"

if TYPE_CHECKING:
    from gpufleet.sim.llm import LlmProfile

AnyProfile = Union["ServiceProfile", "LlmProfile"]


class BatchPoint(BaseModel):
    """One request of ``batch`` items, sent alone: its end-to-end latency."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    batch: Annotated[int, Field(ge=1)]
    p50_ms: float
    p95_ms: float
    mean_ms: float | None = None
    """Mean end-to-end latency: the counterpart of ``compute_ms``, which the server's
    counters only give as a mean (None in profiles written before it was recorded)."""
    compute_ms: float | None = None
    """Mean compute time of one such request, from the server's compute counter
    (None without its metrics)."""


class ConcurrencyPoint(BaseModel):
    """``concurrency`` clients each sending one-item requests back to back."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    concurrency: Annotated[int, Field(ge=1)]
    throughput_rps: float
    p50_ms: float
    p95_ms: float
    mean_batch: float | None = None
    """Items per execution, from the server's counters (None without its metrics)."""
    batch_ms: float | None = None
    """Compute time of one execution, from the server's counters."""
    predicted_rps: float | None = None
    """What the fitted profile predicts for this concurrency (closed loop, no queueing)."""


class Measurements(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    batches: list[BatchPoint] = Field(default_factory=list)
    concurrency: list[ConcurrencyPoint] = Field(default_factory=list)


class ServiceProfile(BaseModel):
    # An infinite cost (a file's .inf) would pass the bounds and divide by zero later.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    name: str = "custom"
    a_ms: Annotated[float, Field(ge=0, description="Fixed cost of one batch execution, ms.")]
    c_ms: Annotated[float, Field(gt=0, description="Cost per request in the batch, ms.")]
    max_batch: Annotated[int, Field(ge=1, le=4096)] = 1
    max_queue_delay_ms: Annotated[
        float, Field(ge=0, description="Longest the oldest request waits for a fuller batch.")
    ] = 0.0
    source: str | None = None
    """Where the numbers come from (a command, a server, a publication)."""
    compute_a_ms: Annotated[
        float | None,
        Field(ge=0, description="Fixed compute time of one batch execution (the model's), ms."),
    ] = None
    compute_c_ms: Annotated[
        float | None,
        Field(ge=0, description="Compute time per request in the batch (the model's), ms."),
    ] = None
    measured: Measurements | None = None
    """What ``gpufleet profile`` measured; the simulator reads only the fields above."""

    @model_validator(mode="after")
    def _compute_fit_is_whole(self) -> ServiceProfile:
        if (self.compute_a_ms is None) != (self.compute_c_ms is None):
            raise ValueError(
                "compute_a_ms and compute_c_ms: give both (the compute fit) or neither"
            )
        return self

    def batch_seconds(self, work: float) -> float:
        """Service time of a batch whose requests add up to ``work`` unit-sized requests."""
        return (self.a_ms + self.c_ms * work) / 1000.0

    def compute_seconds(self, work: float) -> float:
        """The model's execution time in such a batch: what the server credits to its
        compute counter. Without a compute fit, the whole batch time (as profiles
        written before it was measured); never more than the batch time, which a
        noisy fit could otherwise claim."""
        served = self.batch_seconds(work)
        if self.compute_a_ms is None or self.compute_c_ms is None:
            return served
        return min(served, (self.compute_a_ms + self.compute_c_ms * work) / 1000.0)

    @property
    def max_throughput_rps(self) -> float:
        """Requests per second one replica sustains with full batches of unit requests."""
        return self.max_batch / self.batch_seconds(self.max_batch)


def load_profile(path: Path | None = None) -> ServiceProfile:
    """Read a request-level profile from YAML or JSON; the shipped default without ``path``."""
    profile = load_any_profile(path)
    if not isinstance(profile, ServiceProfile):
        raise ValueError(f"{path}: an LLM profile (kind: llm) where a batching profile is needed")
    return profile


def load_any_profile(path: Path | None = None) -> AnyProfile:
    """A batching profile, or a token-level LLM profile when it says ``kind: llm``."""
    from gpufleet.sim.llm import LlmProfile

    source = path or DEFAULT_PROFILE_PATH
    raw = _parsed(source)
    if isinstance(raw, dict) and "kind" in raw and raw["kind"] != "llm":
        # Read as a batching profile, "kind: LLM" was a list of "Extra inputs" errors, one
        # per LLM field, and never the one word at fault.
        kind = raw["kind"]
        # As the file spells it: a YAML null is "null", not Python's None.
        shown = repr(kind) if isinstance(kind, str) else json.dumps(kind, default=str)
        raise ValueError(
            f"{source}: kind: {shown}: expected 'llm' (a token-level LLM profile), "
            "or no kind (a batching profile)"
        )
    try:
        if isinstance(raw, dict) and raw.get("kind") == "llm":
            return LlmProfile.model_validate(raw)
        return ServiceProfile.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"{source}: {_problems(exc)}") from exc


def _parsed(source: Path) -> object:
    """The file's JSON or YAML, or a ``ValueError`` naming where it stops being that."""
    text = read_utf8(source)
    if source.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"{source}: line {exc.lineno}, column {exc.colno}: not JSON ({exc.msg})"
            ) from exc
    documents = read_yaml(text, str(source))
    if len(documents) > 1:
        raise ValueError(f"{source}: {len(documents)} YAML documents; a profile is one")
    return documents[0] if documents else None


def _problems(exc: ValidationError) -> str:
    """Every field the profile got wrong, each named: one fix per run is one run too many."""
    return "; ".join(
        f"{field_path(tuple(err['loc'])) or 'profile'}: "
        f"{str(err['msg']).removeprefix('Value error, ')}"
        for err in exc.errors()
    )


def fit_profile(
    batch_sizes: list[int],
    batch_ms: list[float],
    *,
    max_queue_delay_ms: float = 0.0,
    name: str = "fitted",
) -> ServiceProfile:
    """Least-squares ``a + c*b`` through measured (batch size, batch latency) points.

    Feed it ``perf_analyzer`` results from Triton or the torch runtime's compute time
    with every batch of one size (then ``compute_ms_per_request`` is the batch time at
    ``inferences_per_exec``; with mixed sizes it weights large batches more).
    """
    if len(batch_sizes) != len(batch_ms) or len(set(batch_sizes)) < 2:
        raise ValueError("need latencies at two or more distinct batch sizes")
    sizes = np.asarray(batch_sizes, dtype=np.float64)
    times = np.asarray(batch_ms, dtype=np.float64)
    c, a = np.polyfit(sizes, times, 1)
    if c <= 0:
        # A batch that costs no more per request than one alone is noise, not a server.
        raise ValueError(
            "latency does not grow with the batch size "
            f"({dict(zip(batch_sizes, batch_ms, strict=True))} ms)"
        )
    return ServiceProfile(
        name=name,
        a_ms=max(0.0, float(a)),
        c_ms=float(c),
        max_batch=int(sizes.max()),
        max_queue_delay_ms=max_queue_delay_ms,
    )


def fit_compute(batch_sizes: list[int], compute_ms: list[float]) -> tuple[float, float]:
    """Least-squares ``(compute_a, compute_c)`` through (batch size, compute time) points.

    Unlike the end-to-end time, a model's compute may not grow with the batch (a GPU
    reading shared weights): a slope the noise makes negative is fitted flat, at the
    mean. One batch size: all of it per request (``compute_a`` 0), as :func:`fit_profile`
    is used for a model that does not batch.
    """
    if len(batch_sizes) != len(compute_ms) or not batch_sizes:
        raise ValueError("need one compute time per batch size")
    if len(set(batch_sizes)) < 2:
        return 0.0, float(np.mean(compute_ms)) / batch_sizes[0]
    sizes = np.asarray(batch_sizes, dtype=np.float64)
    times = np.asarray(compute_ms, dtype=np.float64)
    c, a = np.polyfit(sizes, times, 1)
    if c <= 0:
        return float(times.mean()), 0.0
    if a < 0:
        # Through the origin: compute proportional to the batch.
        return 0.0, float(np.dot(sizes, times) / np.dot(sizes, sizes))
    return float(a), float(c)
