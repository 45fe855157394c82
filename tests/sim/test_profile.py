"""Replica profiles: the shipped ones load; a fit from measurements recovers a + c*b;
what ``gpufleet profile`` writes reads back the same, compute fit included."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gpufleet.profiling.cli import write_profile
from gpufleet.profiling.measure import ModelFacts
from gpufleet.profiling.run import fit
from gpufleet.sim.llm import LlmProfile
from gpufleet.sim.profile import (
    DEFAULT_PROFILE_PATH,
    BatchPoint,
    ConcurrencyPoint,
    Measurements,
    ServiceProfile,
    fit_compute,
    fit_profile,
    load_any_profile,
    load_profile,
)


@pytest.mark.parametrize("path", sorted(DEFAULT_PROFILE_PATH.parent.glob("*.yaml")))
def test_shipped_profiles_load(path: Path) -> None:
    profile = load_any_profile(path)
    assert profile.max_throughput_rps > 0


def test_an_llm_profile_is_recognised_by_its_kind(tmp_path: Path) -> None:
    path = tmp_path / "llm.yaml"
    path.write_text(
        "kind: llm\nprefill_ms_per_token: 0.2\ndecode_base_ms: 20\n"
        "decode_ms_per_seq: 0.5\nkv_tokens: 65536\n"
    )
    profile = load_any_profile(path)
    assert isinstance(profile, LlmProfile)
    assert profile.max_num_seqs == 256
    with pytest.raises(ValueError, match="LLM profile"):
        load_profile(path)


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        # Each was read as a batching profile: "Extra inputs" for every LLM field.
        ("LLM", "kind: 'LLM': expected 'llm' (a token-level LLM profile), or no kind"),
        ("vllm", "kind: 'vllm': expected 'llm'"),
        ("null", "kind: null: expected 'llm'"),
    ],
)
def test_a_profile_of_another_kind_is_refused_naming_the_kinds(
    tmp_path: Path, kind: str, said: str
) -> None:
    path = tmp_path / "llm.yaml"
    path.write_text(
        f"kind: {kind}\nprefill_ms_per_token: 0.2\ndecode_base_ms: 20\n"
        "decode_ms_per_seq: 0.5\nkv_tokens: 65536\n"
    )
    with pytest.raises(ValueError, match=re.escape(f"{path}: {said}")):
        load_any_profile(path)


def test_a_bad_profile_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("a_ms: 1\nc_ms: -2\n")
    with pytest.raises(ValueError, match="c_ms"):
        load_any_profile(path)


def test_a_bad_llm_profile_names_the_file_and_every_field_it_got_wrong(tmp_path: Path) -> None:
    path = tmp_path / "llm.yaml"
    path.write_text("kind: llm\nprefill_ms_per_token: -1\ndecode_base_ms: 5\n")
    with pytest.raises(ValueError, match="kv_tokens: Field required") as raised:
        load_any_profile(path)
    assert str(raised.value) == (
        f"{path}: prefill_ms_per_token: Input should be greater than 0; "
        "decode_ms_per_seq: Field required; kv_tokens: Field required"
    )


def test_default_profile_sustains_what_the_docs_say() -> None:
    assert load_profile().max_throughput_rps == pytest.approx(4 / 1.8)


def test_fit_recovers_batch_time_from_noisy_measurements() -> None:
    sizes = [1, 2, 4, 8, 16, 32]
    noise = [0.1, -0.2, 0.15, -0.05, 0.1, -0.1]
    measured = [2.0 + 0.8 * b + e for b, e in zip(sizes, noise, strict=True)]
    profile = fit_profile(sizes, measured, max_queue_delay_ms=1.0)
    assert profile.a_ms == pytest.approx(2.0, abs=0.2)
    assert profile.c_ms == pytest.approx(0.8, abs=0.02)
    assert profile.max_batch == 32


def test_fit_needs_two_batch_sizes() -> None:
    with pytest.raises(ValueError, match="two or more"):
        fit_profile([4, 4], [3.0, 3.1])


def test_json_profile(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"a_ms": 5, "c_ms": 1, "max_batch": 8, "max_queue_delay_ms": 2}')
    assert load_profile(path).batch_seconds(8) == pytest.approx(0.013)


def test_a_fit_where_latency_falls_with_the_batch_is_refused_naming_why() -> None:
    # Noise can make batch 8 look cheaper than batch 1: no per-request cost to fit.
    with pytest.raises(ValueError, match="latency does not grow with the batch size"):
        fit_profile([1, 2, 4, 8], [10.0, 9.8, 9.9, 9.5])


MEASURED = ServiceProfile(
    name="tiny-mlp",
    a_ms=22.9,
    c_ms=2.51,
    max_batch=8,
    compute_a_ms=20.1,
    compute_c_ms=2.5,
    source="gpufleet profile of 'tiny-mlp' at 127.0.0.1:8000",
    measured=Measurements(
        batches=[
            BatchPoint(batch=1, p50_ms=25.4, p95_ms=26.0, compute_ms=22.6),
            BatchPoint(batch=8, p50_ms=43.0, p95_ms=44.1, compute_ms=40.1),
        ],
        concurrency=[
            ConcurrencyPoint(
                concurrency=4, throughput_rps=120.0, p50_ms=33.0, p95_ms=36.0,
                mean_batch=3.8, batch_ms=29.6, predicted_rps=131.0,
            )
        ],
    ),
)  # fmt: skip


@pytest.mark.parametrize(
    "profile",
    [MEASURED, MEASURED.model_copy(update={"compute_a_ms": None, "compute_c_ms": None})],
    ids=["with-compute-fit", "end-to-end-only"],
)
def test_a_written_profile_reads_back_the_same(tmp_path: Path, profile: ServiceProfile) -> None:
    path = tmp_path / "measured.yaml"
    write_profile(profile, path)
    assert load_profile(path) == profile


@pytest.mark.parametrize(
    ("text", "compute_ms_at_8"),
    [
        # The model computes 20 + 2.5 b of the 23 + 2.5 b the client waits.
        ("a_ms: 23\nc_ms: 2.5\nmax_batch: 8\ncompute_a_ms: 20\ncompute_c_ms: 2.5\n", 40.0),
        # A profile from before the compute fit: all of the batch time is compute.
        ("a_ms: 23\nc_ms: 2.5\nmax_batch: 8\n", 43.0),
        # A noisy fit above the end-to-end time is held to it.
        ("a_ms: 23\nc_ms: 2.5\nmax_batch: 8\ncompute_a_ms: 30\ncompute_c_ms: 2.5\n", 43.0),
    ],
    ids=["compute-fit", "old-profile", "compute-above-end-to-end"],
)
def test_compute_time_of_a_batch(tmp_path: Path, text: str, compute_ms_at_8: float) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    profile = load_profile(path)
    assert profile.batch_seconds(8) == pytest.approx(0.043)
    assert profile.compute_seconds(8) == pytest.approx(compute_ms_at_8 / 1000)


def test_half_a_compute_fit_is_refused_naming_the_fields(tmp_path: Path) -> None:
    path = tmp_path / "half.yaml"
    path.write_text("a_ms: 23\nc_ms: 2.5\ncompute_a_ms: 20\n")
    with pytest.raises(ValueError, match="compute_a_ms and compute_c_ms"):
        load_profile(path)


@pytest.mark.parametrize(
    ("sizes", "compute_ms", "a_ms", "c_ms"),
    [
        # Noisy 20 + 2.5 b.
        ([1, 2, 4, 8], [22.6, 24.9, 30.1, 39.9], 20.0, 2.5),
        # A GPU reading shared weights: flat, noise tilting it down -> fitted flat at the mean.
        ([1, 2, 4, 8], [10.2, 10.0, 9.9, 9.9], 10.0, 0.0),
        # A model that does not batch: all of it per request.
        ([1], [7.0], 0.0, 7.0),
    ],
    ids=["grows-with-the-batch", "flat", "one-batch-size"],
)
def test_compute_fit(sizes: list[int], compute_ms: list[float], a_ms: float, c_ms: float) -> None:
    fitted_a, fitted_c = fit_compute(sizes, compute_ms)
    assert fitted_a == pytest.approx(a_ms, abs=0.3)
    assert fitted_c == pytest.approx(c_ms, abs=0.1)


def _points(compute_ms: list[float | None]) -> list[BatchPoint]:
    return [
        BatchPoint(batch=b, p50_ms=22.0 + 2.5 * b, p95_ms=23.0 + 2.5 * b, compute_ms=c)
        for b, c in zip([1, 2, 4, 8], compute_ms, strict=True)
    ]


@pytest.mark.parametrize(
    ("points", "compute_at_8_ms"),
    [
        # The server's metrics were read at every batch size: the compute fit is kept.
        (_points([22.5, 25.0, 30.0, 40.0]), 40.0),
        # Without them (no --metrics-url), or with a size unmeasured: no compute fit, and
        # the simulator credits the whole batch time.
        (_points([None, None, None, None]), 42.0),
        (_points([22.5, None, 30.0, 40.0]), 42.0),
    ],
    ids=["metrics", "no-metrics", "one-size-unmeasured"],
)
def test_a_profiled_model_has_a_compute_fit_only_where_every_size_was_measured(
    points: list[BatchPoint], compute_at_8_ms: float
) -> None:
    facts = ModelFacts(inputs=[], batched=True, max_batch=8, max_queue_delay_ms=0.0)
    profile = fit(facts, points, "tiny")
    assert profile.batch_seconds(8) == pytest.approx(0.042)
    assert profile.compute_seconds(8) == pytest.approx(compute_at_8_ms / 1000)


def test_the_batch_time_is_fitted_to_mean_latencies() -> None:
    """A few slow executions pull each mean 3 ms above its median: a replica's throughput
    is one over its mean batch time, so the fit follows the means (22 + 2.5 b + 3 ms)."""
    points = [
        BatchPoint(batch=b, p50_ms=22.0 + 2.5 * b, p95_ms=40.0 + 2.5 * b, mean_ms=25.0 + 2.5 * b)
        for b in (1, 2, 4, 8)
    ]
    facts = ModelFacts(inputs=[], batched=True, max_batch=8, max_queue_delay_ms=0.0)
    profile = fit(facts, points, "tiny")
    assert profile.batch_seconds(8) == pytest.approx(0.045)
