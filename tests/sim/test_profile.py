"""Replica profiles: the shipped ones load; a fit from measurements recovers a + c*b."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpufleet.sim.llm import LlmProfile
from gpufleet.sim.profile import DEFAULT_PROFILE_PATH, fit_profile, load_any_profile, load_profile


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


def test_a_bad_profile_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("a_ms: 1\nc_ms: -2\n")
    with pytest.raises(ValueError, match="c_ms"):
        load_any_profile(path)


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
