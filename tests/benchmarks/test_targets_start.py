"""Every benchmark script a ``make bench*`` target runs starts: its imports resolve and it
parses its arguments. A benchmark is run rarely and by hand, so a renamed function it
imports (``local_vs_sim.py`` once imported a trace reader that had moved) would
otherwise be found by the next person to run it, minutes into a bench."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(set(re.findall(r"\$\(PY\) (benchmarks/\S+\.py)", (ROOT / "Makefile").read_text())))


def test_the_makefile_names_the_benchmark_scripts() -> None:
    # The benchmarks of the simulator, the policy, the runtime, the operator and the two
    # comparisons of the simulator with real engines.
    assert len(SCRIPTS) >= 10, SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_benchmark_script_starts(script: str) -> None:
    done = subprocess.run(
        [sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout


def test_the_query_benchmark_runs_on_settings_the_operator_takes() -> None:
    # The operator's settings refuse a rate window shorter than two scrape intervals:
    # the benchmark's own 5 s window once met the 5 s default and stopped the bench.
    sys.path.insert(0, str(ROOT / "benchmarks" / "policy"))
    try:
        import run  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    settings = run.query_settings("http://127.0.0.1:9090")
    assert settings.rate_window_seconds >= 2 * settings.scrape_interval_seconds
