"""The simulated Prometheus computes ``rate()`` as the real one does.

Prometheus extrapolates a counter's increase toward the window's edges and divides it
by the whole window, so a series younger than the window -- a pod scraped for a few
seconds -- reads low. The operator's reader is written for that (it calls such a pod's
rates lower bounds); a simulator reading the true rate at once would flatter the policy
in every scale-up's first rate window. Each case is checked against the real engine with
``promtool test rules`` (Debian: prometheus), which compares values exactly.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gpufleet.sim.metrics import prometheus_rate

PROMTOOL = shutil.which("promtool")

CASES = {
    # name: (samples {second: counter value}, evaluated at, window, rate)
    # Scraped for 3 s of a 10 s window at 150/s: the increase (450) reaches back only to
    # where the counter was zero (0.5 s before the first sample), then over 10 s.
    "young series": ({2: 75, 3: 225, 4: 375, 5: 525}, 5, 10, 52.5),
    # Samples all through the window: the true rate.
    "steady series": ({t: 100 * t for t in range(11)}, 10, 10, 100.0),
    # Last scraped 6 s ago (a pod gone): half an interval past the last sample only.
    "ended series": ({t: 100 * t for t in range(5)}, 10, 10, 45.0),
}


def rate_of(samples: dict[int, int], at: int, window: int) -> float:
    inside = sorted((t, float(v)) for t, v in samples.items() if at - window <= t <= at)
    return prometheus_rate(inside[0], inside[-1], len(inside), float(at), float(window))


@pytest.mark.parametrize("case", list(CASES))
def test_rate_extrapolates_as_prometheus_does(case: str) -> None:
    samples, at, window, expected = CASES[case]
    assert rate_of(samples, at, window) == pytest.approx(expected, rel=1e-12)


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian: prometheus)")
def test_the_real_engine_computes_the_same_rates(tmp_path: Path) -> None:
    tests = []
    for name, (samples, at, window, expected) in CASES.items():
        series = name.replace(" ", "_")
        values = " ".join(str(samples[t]) if t in samples else "_" for t in range(at + 1))
        tests.append(
            {
                "interval": "1s",
                "input_series": [{"series": series, "values": values}],
                "promql_expr_test": [
                    {
                        "expr": f"rate({series}[{window}s])",
                        "eval_time": f"{at}s",
                        "exp_samples": [{"labels": "{}", "value": expected}],
                    }
                ],
            }
        )
    spec = tmp_path / "rates.yaml"
    spec.write_text(yaml.safe_dump({"evaluation_interval": "1s", "tests": tests}))
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, "test", "rules", spec.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
