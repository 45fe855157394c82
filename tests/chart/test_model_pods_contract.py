"""The chart's PodMonitor scrapes the pods the operator actually builds.

Builds the model Deployment with the operator's own manifest code and checks the
PodMonitor's selector, port and relabeling against it, so a label or port renamed
on either side fails here instead of silently leaving the autoscaler without metrics.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet.domain.manifests.deployment import build_deployment
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.spec import parse_spec

from .render import REPO_ROOT, render

EXAMPLES = sorted((REPO_ROOT / "examples").rglob("*.yaml"))


def _models() -> list[dict[str, Any]]:
    return [
        doc
        for path in EXAMPLES
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") == "ModelDeployment"
    ]


def _sd_label(pod_label: str) -> str:
    """The meta label Prometheus' Kubernetes discovery gives a pod label."""
    return "__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", pod_label)


@pytest.mark.parametrize("model", _models(), ids=lambda m: m["metadata"]["name"])
def test_pod_monitor_selects_and_labels_the_model_pods(
    chart_dir: Path, model: dict[str, Any]
) -> None:
    owner = Owner(model["metadata"]["name"], model["metadata"]["namespace"], "uid-1")
    deployment = build_deployment(owner, parse_spec(model["spec"]), initial_replicas=1)
    pod = deployment["spec"]["template"]
    pod_labels: dict[str, str] = pod["metadata"]["labels"]

    monitor = render(chart_dir, {"podMonitor": {"enabled": True}}).one("PodMonitor")["spec"]
    assert monitor["selector"]["matchLabels"].items() <= pod_labels.items()
    (endpoint,) = monitor["podMetricsEndpoints"]
    port_names = {p.get("name") for c in pod["spec"]["containers"] for p in c.get("ports", [])}
    assert endpoint["port"] in port_names

    relabel = {r["targetLabel"]: r["sourceLabels"][0] for r in endpoint["relabelings"]}
    source = relabel["modeldeployment"]
    carrying = [label for label in pod_labels if _sd_label(label) == source]
    assert carrying, f"no pod label becomes {source}"
    assert pod_labels[carrying[0]] == owner.name
