"""Traces: the Azure LLM CSV, plain CSV/JSONL timestamps, synthetic shapes, time scaling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gpufleet.sim.trace_files import load_trace


def test_azure_conv_trace_loads_every_request(azure_trace: Path) -> None:
    trace = load_trace(str(azure_trace), token_sized=True)
    assert len(trace) == 19_366
    assert trace.arrivals[0] == 0.0
    assert 3_400 < trace.duration < 3_600  # one hour
    assert trace.sizes is not None
    assert float(trace.sizes.mean()) == pytest.approx(1.0)


def test_rate_scale_compresses_time(azure_trace: Path) -> None:
    plain = load_trace(str(azure_trace))
    fast = load_trace(str(azure_trace), rate_scale=2.0)
    assert len(fast) == len(plain)
    assert fast.duration == pytest.approx(plain.duration / 2)
    assert fast.peak_rate(30.0) == pytest.approx(2 * plain.peak_rate(60.0), rel=0.5)
    assert fast.sizes is None  # sizes only with token_sized


def test_csv_of_iso_timestamps_and_jsonl_of_seconds(tmp_path: Path) -> None:
    csv_file = tmp_path / "t.csv"
    csv_file.write_text("timestamp,tokens\n2024-01-01T00:00:02Z,30\n2024-01-01T00:00:00Z,10\n")
    trace = load_trace(str(csv_file), token_sized=True)
    assert trace.arrivals.tolist() == [0.0, 2.0]
    assert trace.sizes is not None
    assert trace.sizes.tolist() == [0.5, 1.5]  # sorted with their arrivals, mean 1
    jsonl = tmp_path / "t.jsonl"
    jsonl.write_text("\n".join(json.dumps({"t": t}) for t in (5.0, 5.5, 9.0)))
    assert load_trace(str(jsonl)).arrivals.tolist() == [0.0, 0.5, 4.0]


def test_synthetic_step_has_its_two_rates() -> None:
    trace = load_trace("synthetic:step?base=10&peak=40&at=300&duration=600", seed=4)
    rates = trace.rate_per_window(300.0)
    assert rates[0] == pytest.approx(10, rel=0.1)
    assert rates[1] == pytest.approx(40, rel=0.1)


@pytest.mark.parametrize("shape", ["step", "ramp", "diurnal", "bursty", "flash", "onoff"])
def test_synthetic_shapes_are_seeded(shape: str) -> None:
    a = load_trace(f"synthetic:{shape}", seed=11)
    b = load_trace(f"synthetic:{shape}", seed=11)
    c = load_trace(f"synthetic:{shape}", seed=12)
    assert np.array_equal(a.arrivals, b.arrivals)
    assert not np.array_equal(a.arrivals, c.arrivals)
    per_minute = a.rate_per_window(60.0)
    assert per_minute.max() > 2.5 * per_minute.min()  # base 2-5/s, peak 20/s by default


def test_unknown_synthetic_parameter_is_rejected() -> None:
    with pytest.raises(ValueError, match="no parameter 'peek'"):
        load_trace("synthetic:step?peek=3")


@pytest.mark.parametrize(
    ("window", "expected_rate"),
    [
        ((0.0, 600.0), 3.0),  # before the crowd
        ((612.0, 620.0), 30.0),  # x10 within 10 s
        ((910.0, 930.0), 3.0 + 27.0 * np.exp(-1.0)),  # one decay constant later
        ((2400.0, 3000.0), 3.0),  # gone after many minutes
    ],
)
def test_flash_crowd_rises_tenfold_in_ten_seconds_and_decays(
    window: tuple[float, float], expected_rate: float
) -> None:
    trace = load_trace(
        "synthetic:flash?base=3&peak=30&at=600&rise=10&decay=300&duration=3000", seed=2
    )
    lo, hi = np.searchsorted(trace.arrivals, window)
    assert (hi - lo) / (window[1] - window[0]) == pytest.approx(expected_rate, rel=0.3)


def test_onoff_alternates_between_its_rates() -> None:
    trace = load_trace("synthetic:onoff?base=0&peak=20&on=100&off=200&duration=900", seed=3)
    per_100s = trace.rate_per_window(100.0).tolist()
    assert per_100s[0] == per_100s[1] == per_100s[3] == 0.0
    assert per_100s[2] == pytest.approx(20, rel=0.15)
    assert per_100s[5] == pytest.approx(20, rel=0.15)


@pytest.mark.parametrize(("clump", "close_gaps"), [(1.0, (0.0, 0.15)), (8.0, (0.75, 0.95))])
def test_clumped_arrivals_keep_the_rate_and_come_milliseconds_apart(
    clump: float, close_gaps: tuple[float, float]
) -> None:
    trace = load_trace(f"synthetic:constant?rate=10&duration=2000&clump={clump:g}", seed=5)
    assert len(trace) / trace.duration == pytest.approx(10, rel=0.1)
    share = float(np.mean(np.diff(trace.arrivals) < 0.01))
    assert close_gaps[0] <= share <= close_gaps[1]
