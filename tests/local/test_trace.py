"""The load generator's arrivals: a real trace compressed in time, or a synthetic burst."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gpufleet.sim.trace_files import load_trace
from gpufleet_devtools.local.cli import app
from gpufleet_devtools.local.trace import poisson_phases, replay

CSV = """TIMESTAMP,ContextTokens,GeneratedTokens
2023-11-16 18:15:47.0000000,10,1
2023-11-16 18:15:46.5000000,10,1
2023-11-16 18:15:50.2500000,10,1
2023-11-16 18:16:06.5000000,10,1
"""


def test_a_trace_replays_faster_and_thinner(tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    path.write_text(CSV)
    times = load_trace(str(path)).arrivals.tolist()
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


@pytest.mark.parametrize("runtime", ["torch", "llm"])
def test_the_demo_refuses_a_trace_it_cannot_read_before_starting_anything(
    tmp_path: Path, runtime: str
) -> None:
    bad = tmp_path / "trace.csv"
    bad.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,10,1\nlater,10,1\n"
    )
    result = CliRunner().invoke(
        app, ["demo", "--runtime", runtime, "--trace", str(bad), "--no-live"]
    )
    assert result.exit_code == 2
    assert "line 3: timestamp 'later' is not a date" in " ".join(result.output.split())
