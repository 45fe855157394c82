"""The PrometheusRule's alerts are valid PromQL and fire when, and only when, they should.

`promtool test rules` evaluates the rendered rules on synthetic series in virtual
time, so `for: 15m` costs nothing. Skipped when promtool is absent (Debian: prometheus).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet.observability.metrics import OperatorMetrics, metric_names

from .render import NAMESPACE, RELEASE, render

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed")
ALL_ALERTS = {"prometheusRule": {"enabled": True}, "metrics": {"serviceMonitor": {"enabled": True}}}
MD = {"namespace": "models", "modeldeployment": "resnet50"}
_READ_BUCKET_BOUNDS = ("0.5", "1.0", "2.0", "4.0", "5.0", "10.0")
"""Some of the read histogram's bucket bounds, as prometheus_client writes them."""


def _groups(chart_dir: Path, values: dict[str, Any] = ALL_ALERTS) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = render(chart_dir, values).one("PrometheusRule")["spec"]["groups"]
    return groups


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


@needs_promtool
def test_rules_are_valid_promql(chart_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": _groups(chart_dir)}))
    result = _promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alerts_only_query_metrics_the_operator_exports(chart_dir: Path) -> None:
    exported = metric_names(OperatorMetrics())
    exprs = [r["expr"] for g in _groups(chart_dir) for r in g["rules"]]
    used = {name for expr in exprs for name in re.findall(r"\bgpufleet_[a-z0-9_]+", expr)}
    assert used, "no gpufleet_* metric in the alerts"
    assert used <= exported, f"not exported by gpufleet.observability: {used - exported}"


def _series(metric: str, labels: dict[str, str], values: str) -> dict[str, str]:
    selector = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{metric}{{{selector}}}", "values": values}


def _read_durations(labels: dict[str, str], counts: str, seconds: float) -> list[dict[str, str]]:
    """The read-duration histogram's bucket series of an operator whose every read takes
    ``seconds``: buckets below it stay at 0, the others follow ``counts``."""
    series = []
    for le in (*_READ_BUCKET_BOUNDS, "+Inf"):
        below = le != "+Inf" and float(le) < seconds
        values = " ".join("0" for _ in counts.split()) if below else counts
        series.append(_series("gpufleet_prometheus_read_duration_seconds_bucket",
                              {**labels, "le": le}, values))  # fmt: skip
    return series


def _alert(name: str, at: str, labels: dict[str, str] | None, severity: str) -> dict[str, Any]:
    expected = [] if labels is None else [{"exp_labels": {**labels, "severity": severity}}]
    return {"eval_time": at, "alertname": name, "exp_alerts": expected}


def _scenarios() -> list[dict[str, Any]]:
    other = {"namespace": "models", "modeldeployment": "bert"}
    job = {"job": f"{RELEASE}-metrics", "namespace": NAMESPACE}
    other_job = {"job": f"{RELEASE}-metrics", "namespace": "team-b"}
    target = {**job, "instance": "10.0.0.7:9090"}
    return [
        {  # p95 misses the target for 20 minutes; unknown p95 (NaN) is not a miss.
            "interval": "1m",
            "input_series": [
                _series("gpufleet_modeldeployment_slo_met", MD, "1 0x20"),
                _series("gpufleet_modeldeployment_slo_met", other, " ".join(["NaN"] * 21)),
            ],
            "alert_rule_test": [
                _alert("GpufleetSLOMissed", "8m", None, "warning"),
                _alert("GpufleetSLOMissed", "12m", MD, "warning"),
            ],
        },
        {  # the budget caps the fleet for 30 minutes
            "interval": "1m",
            "input_series": [
                _series("gpufleet_modeldeployment_cost_capped", MD, "1x30"),
                _series("gpufleet_modeldeployment_cost_capped", other, "0x30"),
            ],
            "alert_rule_test": [
                _alert("GpufleetBudgetCapHit", "10m", None, "warning"),
                _alert("GpufleetBudgetCapHit", "20m", MD, "warning"),
            ],
        },
        {  # metrics lost after 2 minutes
            "interval": "1m",
            "input_series": [
                _series("gpufleet_modeldeployment_metrics_available", MD, "1 1 0x20"),
                _series("gpufleet_modeldeployment_metrics_available", other, "1x20"),
            ],
            "alert_rule_test": [
                _alert("GpufleetMetricsLost", "5m", None, "critical"),
                _alert("GpufleetMetricsLost", "9m", MD, "critical"),
            ],
        },
        {  # 2 pods cannot be placed for 20 minutes; a placed fleet (0) never alerts
            "interval": "1m",
            "input_series": [
                _series("gpufleet_modeldeployment_unschedulable_replicas", MD, "0 0 2x20"),
                _series("gpufleet_modeldeployment_unschedulable_replicas", other, "0x22"),
            ],
            "alert_rule_test": [
                _alert("GpufleetPodsUnschedulable", "16m", None, "warning"),
                _alert("GpufleetPodsUnschedulable", "18m", MD, "warning"),
            ],
        },
        {  # an HPA sets resnet50's replicas at minutes 3 and 6; bert's are set once
            "interval": "1m",
            "input_series": [
                _series("gpufleet_replicas_overridden_total", {**job, **MD}, "0 0 0 1 1 1 2x20"),
                _series("gpufleet_replicas_overridden_total", {**job, **other}, "0 0 0 1x25"),
            ],
            "alert_rule_test": [
                _alert("GpufleetReplicasContended", "5m", None, "warning"),
                _alert("GpufleetReplicasContended", "7m", {**job, **MD}, "warning"),
                # 15 minutes on, the window holds one change and the fight is over.
                _alert("GpufleetReplicasContended", "20m", None, "warning"),
            ],
        },
        {  # updates fail every minute; creates never do
            "interval": "1m",
            "input_series": [
                _series("gpufleet_reconcile_errors_total", {**job, "kind": "update"}, "0+1x40"),
                _series("gpufleet_reconcile_errors_total", {**job, "kind": "create"}, "0x40"),
                _series("gpufleet_scaling_tick_errors_total", job, "0x40"),
            ],
            "alert_rule_test": [
                _alert("GpufleetReconcileErrors", "10m", None, "warning"),
                _alert("GpufleetReconcileErrors", "30m", {**job, "kind": "update"}, "warning"),
            ],
        },
        {  # one operator's reads take 4.5 s (5 s timeout) from minute 2; another's 0.3 s
            "interval": "1m",
            "input_series": [
                *_read_durations(job, "0x2 " + " ".join(f"{12 * i}" for i in range(1, 31)), 4.5),
                *_read_durations(other_job, " ".join(f"{12 * i}" for i in range(32)), 0.3),
            ],
            "alert_rule_test": [
                _alert("GpufleetPrometheusReadsSlow", "15m", None, "warning"),
                _alert("GpufleetPrometheusReadsSlow", "28m", job, "warning"),
            ],
        },
        {  # scrapes of the operator fail after 5 minutes
            "interval": "1m",
            "input_series": [_series("up", target, "1x5 0x20")],
            "alert_rule_test": [
                _alert("GpufleetOperatorDown", "5m", None, "critical"),
                _alert("GpufleetOperatorDown", "12m", target, "critical"),
            ],
        },
        {  # the operator's target disappears (pod gone, Service selects nothing)
            "interval": "1m",
            "input_series": [_series("up", target, "1x5")],
            "alert_rule_test": [
                _alert("GpufleetOperatorDown", "5m", None, "critical"),
                _alert("GpufleetOperatorDown", "16m", job, "critical"),
            ],
        },
    ]


@needs_promtool
def test_alerts_fire_after_their_duration_and_not_before(chart_dir: Path, tmp_path: Path) -> None:
    groups = _groups(chart_dir)
    for group in groups:
        for rule in group["rules"]:
            rule.pop("annotations", None)  # checked by `promtool check rules`; compared here
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    tests = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": _scenarios()}
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = _promtool("test", "rules", "tests.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_durations_and_severities_follow_values(chart_dir: Path) -> None:
    values = {
        **ALL_ALERTS,
        "prometheusRule": {
            "enabled": True,
            "alerts": {
                "sloMissed": {"for": "30m", "severity": "critical"},
                "budgetCapHit": {"enabled": False},
            },
        },
    }
    rules = {r["alert"]: r for g in _groups(chart_dir, values) for r in g["rules"]}
    assert "GpufleetBudgetCapHit" not in rules
    assert rules["GpufleetSLOMissed"]["for"] == "30m"
    assert rules["GpufleetSLOMissed"]["labels"]["severity"] == "critical"


def test_operator_down_needs_the_service_monitor(chart_dir: Path) -> None:
    rules = _groups(chart_dir, {"prometheusRule": {"enabled": True}})[0]["rules"]
    assert "GpufleetOperatorDown" not in {r["alert"] for r in rules}
