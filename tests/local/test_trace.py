"""The load generator's arrivals: a real trace compressed in time, or a synthetic burst."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpufleet_devtools.local.paths import DEFAULT_TRACE
from gpufleet_devtools.local.trace import poisson_phases, read_trace_times, replay

CSV = """TIMESTAMP,ContextTokens,GeneratedTokens
2023-11-16 18:15:47.0000000,10,1
2023-11-16 18:15:46.5000000,10,1
2023-11-16 18:15:50.2500000,10,1
2023-11-16 18:16:06.5000000,10,1
"""


def test_a_trace_replays_faster_and_thinner(tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    path.write_text(CSV)
    times = read_trace_times(path)
    assert times == pytest.approx([0.0, 0.5, 3.75, 20.0])  # sorted, from the first request
    faster = replay(times, duration_s=5.0, speedup=2.0)
    assert faster.offsets == pytest.approx((0.0, 0.25, 1.875))  # 20 s / 2 is past the end
    doubled = replay(times, duration_s=5.0, speedup=2.0, rate_scale=2.0)
    assert len(doubled.offsets) == 6
    thinned = replay(times * 250, duration_s=100.0, speedup=1.0, rate_scale=0.5)
    assert 300 < len(thinned.offsets) < 700


def test_a_synthetic_burst_has_the_rates_asked_for() -> None:
    arrivals = poisson_phases([(20.0, 5.0), (20.0, 50.0), (20.0, 5.0)], seed=1)
    assert arrivals.duration_s == 60.0
    assert arrivals.rate_between(0, 20) == pytest.approx(5.0, rel=0.35)
    assert arrivals.rate_between(20, 40) == pytest.approx(50.0, rel=0.15)
    assert arrivals.rate_between(40, 60) == pytest.approx(5.0, rel=0.35)


def test_the_shared_azure_trace_reads_whole() -> None:
    if not DEFAULT_TRACE.exists():
        pytest.skip(f"shared trace not present at {DEFAULT_TRACE}")
    times = read_trace_times(DEFAULT_TRACE)
    assert len(times) == 19_366
    assert 3000 < times[-1] <= 3600  # one hour of arrivals
