"""The Grafana dashboard shows what a platform team asks first, with queries that work."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet.observability.metrics import OperatorMetrics, metric_names

from .render import CHART_DIR

DASHBOARD = CHART_DIR / "files" / "dashboards" / "gpufleet-modeldeployments.json"
# Triton's metrics (and the torch runtime's, which exports the same names); see
# /work/shared/notes/baseline-autoscalers.md and Triton's metrics documentation.
TRITON_METRICS = {
    "nv_inference_pending_request_count", "nv_inference_request_success",
    "nv_inference_request_failure", "nv_inference_count", "nv_inference_exec_count",
    "nv_inference_request_duration_us", "nv_inference_queue_duration_us",
    "nv_inference_compute_input_duration_us", "nv_inference_compute_infer_duration_us",
    "nv_inference_compute_output_duration_us",
}  # fmt: skip


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def _panels() -> list[dict[str, Any]]:
    return [p for p in _dashboard()["panels"] if p["type"] != "row"]


def _exprs() -> list[str]:
    return [t["expr"] for p in _panels() for t in p["targets"]]


def test_dashboard_answers_the_questions_per_modeldeployment() -> None:
    by_title = {p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in _panels()}
    wanted = {
        "load": "nv_inference_request_success",
        "queue depth": "nv_inference_pending_request_count",
        "ready replicas": "gpufleet_modeldeployment_ready_replicas",
        "desired replicas": "gpufleet_modeldeployment_desired_replicas",
        "p95": "gpufleet_modeldeployment_p95_latency_seconds",
        "p95 target": "gpufleet_modeldeployment_slo_target_seconds",
        "cost per hour": "gpufleet_modeldeployment_hourly_cost_dollars",
    }
    for question, metric in wanted.items():
        assert any(metric in exprs for exprs in by_title.values()), f"no panel shows {question}"
    variables = {v["name"] for v in _dashboard()["templating"]["list"]}
    assert {"datasource", "namespace", "modeldeployment"} <= variables
    for panel in _panels():
        for target in panel["targets"]:
            if "modeldeployment" in target["expr"] and "sum by (le)" not in target["expr"]:
                assert 'modeldeployment=~"$modeldeployment"' in target["expr"], panel["title"]


def test_dashboard_queries_only_metrics_that_exist() -> None:
    exported = metric_names(OperatorMetrics())
    for expr in _exprs():
        for name in re.findall(r"\b(?:gpufleet|nv_inference)_[a-z0-9_]+", expr):
            assert name in exported | TRITON_METRICS, f"{name} is exported by nobody"


def test_panels_do_not_overlap() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in _dashboard()["panels"]:
        pos = panel["gridPos"]
        cells = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert pos["x"] + pos["w"] <= 24
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    # Grafana's variables, replaced by what Grafana would send.
    grafana = {"$__rate_interval": "1m", "$namespace": "models", "$modeldeployment": ".+"}
    rules = []
    for i, expr in enumerate(_exprs()):
        for variable, value in grafana.items():
            expr = expr.replace(variable, value)
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    (tmp_path / "rules.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "d", "rules": rules}]})
    )
    result = subprocess.run(
        ["promtool", "check", "rules", "rules.yaml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
