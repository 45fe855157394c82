"""The chart's alerts fire in a real Prometheus scraping the operator's real metrics.

Closes the loop `promtool test rules` leaves open: the series names and labels that
`gpufleet.observability` actually exports, scraped the way the chart's ServiceMonitor
does (job = the metrics Service, honorLabels), trigger the rendered alerts.
Durations are shortened to seconds through the chart's values.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

import pytest
import yaml

from gpufleet.observability.metrics import OperatorMetrics
from gpufleet_devtools.processes import free_port
from tests.support.waiting import wait_for

from .render import NAMESPACE, RELEASE, render

PROMETHEUS = shutil.which("prometheus")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (Debian package)"),
]
FAST = {"for": "2s"}
ALERT_NAMES = (
    "sloMissed", "budgetCapHit", "metricsLost", "podsUnschedulable", "replicasContended",
    "reconcileErrors", "prometheusReadsSlow", "operatorDown",
)  # fmt: skip


def _rules(chart_dir: Path) -> dict[str, Any]:
    values = {
        "prometheusRule": {"enabled": True, "alerts": {name: FAST for name in ALERT_NAMES}},
        "metrics": {"serviceMonitor": {"enabled": True}},
    }
    return {"groups": render(chart_dir, values).one("PrometheusRule")["spec"]["groups"]}


class Prometheus:
    def __init__(self, workdir: Path, rules: dict[str, Any], target: str) -> None:
        self.port = free_port()
        (workdir / "rules.yaml").write_text(yaml.safe_dump(rules))
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(workdir / "rules.yaml")],
            "scrape_configs": [
                {   # what the ServiceMonitor produces: job = Service name, honor_labels
                    "job_name": f"{RELEASE}-metrics",
                    "honor_labels": True,
                    "static_configs": [{"targets": [target], "labels": {"namespace": NAMESPACE}}],
                }
            ],
        }  # fmt: skip
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        assert PROMETHEUS is not None
        self.process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def firing(self) -> set[tuple[str, str, str]]:
        """(alertname, namespace, modeldeployment) of every firing alert."""
        url = f"http://127.0.0.1:{self.port}/api/v1/alerts"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                alerts = json.load(response)["data"]["alerts"]
        except OSError:
            return set()  # not up yet
        return {
            (a["labels"]["alertname"], a["labels"].get("namespace", ""),
             a["labels"].get("modeldeployment", ""))
            for a in alerts
            if a["state"] == "firing"
        }  # fmt: skip

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture
def operator_endpoint() -> Iterator[tuple[OperatorMetrics, str, WSGIServer]]:
    """The operator's /metrics, served for real on 127.0.0.1."""
    metrics = OperatorMetrics()
    port = free_port()
    server = metrics.serve(port, addr="127.0.0.1")
    yield metrics, f"127.0.0.1:{port}", server
    server.shutdown()  # returns at once when the test already stopped it
    server.server_close()


def _wait_for_firing(prometheus: Prometheus, alerts: set[tuple[str, str, str]]) -> None:
    """Poll Prometheus' API (rules evaluate every second) until every one of ``alerts`` fires."""
    wait_for(
        prometheus.firing,
        until=alerts.issubset,
        timeout=60,
        interval=0.5,
        what=f"{sorted(alerts)} to fire",
    )


def test_alerts_fire_from_real_operator_metrics(
    chart_dir: Path,
    tmp_path: Path,
    operator_endpoint: tuple[OperatorMetrics, str, WSGIServer],
) -> None:
    metrics, target, server = operator_endpoint
    common: dict[str, Any] = {
        "desired_replicas": 4, "ready_replicas": 4, "hourly_cost": 3.2, "max_hourly_cost": 3.2,
        "slo_target_ms": 200.0,
    }  # fmt: skip
    # resnet50: serving, too slow, capped by its budget.
    metrics.set_state("models", "resnet50", **common, p95_latency_ms=420.0, slo_met=False,
                      metrics_available=True, cost_capped=True)  # fmt: skip
    # bert: metrics lost; its SLO is unknown and must not page as a miss. Two of its
    # pods cannot be placed (no free GPU node).
    metrics.set_state("models", "bert", **common, p95_latency_ms=None, slo_met=None,
                      metrics_available=False, cost_capped=False,
                      unschedulable_replicas=2)  # fmt: skip
    prometheus = Prometheus(tmp_path, _rules(chart_dir), target)
    try:
        expected = {
            ("GpufleetSLOMissed", "models", "resnet50"),
            ("GpufleetBudgetCapHit", "models", "resnet50"),
            ("GpufleetMetricsLost", "models", "bert"),
            ("GpufleetPodsUnschedulable", "models", "bert"),
        }
        _wait_for_firing(prometheus, expected)
        firing = prometheus.firing()
        assert ("GpufleetSLOMissed", "models", "bert") not in firing
        assert ("GpufleetPodsUnschedulable", "models", "resnet50") not in firing
        quiet = {
            "GpufleetOperatorDown",
            "GpufleetReconcileErrors",
            "GpufleetPrometheusReadsSlow",
            "GpufleetReplicasContended",
        }
        assert not any(name in quiet for name, _, _ in firing)

        # A reconcile fails while Prometheus watches: the error rate turns positive.
        with pytest.raises(RuntimeError), metrics.time_reconcile("update"):
            raise RuntimeError("admission webhook denied the request")
        _wait_for_firing(prometheus, {("GpufleetReconcileErrors", NAMESPACE, "")})

        # A read of the fleet's metrics takes 4.5 s, past 80 % of the 5 s query timeout.
        metrics.prometheus_read_duration_seconds.observe(4.5)
        _wait_for_firing(prometheus, {("GpufleetPrometheusReadsSlow", NAMESPACE, "")})

        # An HPA sets resnet50's replicas twice: the two autoscalers are fighting.
        metrics.count_replicas_overridden("models", "resnet50")
        metrics.count_replicas_overridden("models", "resnet50")
        _wait_for_firing(prometheus, {("GpufleetReplicasContended", "models", "resnet50")})

        # The operator stops answering scrapes: OperatorDown fires.
        server.shutdown()
        server.server_close()
        _wait_for_firing(prometheus, {("GpufleetOperatorDown", NAMESPACE, "")})
    finally:
        prometheus.stop()
