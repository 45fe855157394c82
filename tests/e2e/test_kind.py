"""Opt-in end to end: install the chart into a real kind cluster and serve ModelDeployments.

Never faked: it runs only with ``GPUFLEET_E2E=1`` and working ``docker`` and ``kind``,
and needs the operator image built locally (``GPUFLEET_E2E_IMAGE``, default
``ghcr.io/gpufleet/gpufleet-operator:<appVersion>``); it is loaded into the cluster,
nothing is pulled. The chart is installed with Helm's Go SDK (no helm binary).

What it checks, as a user would with kubectl:
- the operator Deployment becomes available with the chart's RBAC (namespaced);
- a ModelDeployment the operator rejects gets ``Ready=False, reason=InvalidSpec``;
- a valid one is reconciled (its Deployment exists with ``minReplicas`` replicas and
  ``status.observedGeneration`` catches up), and raising ``minReplicas`` in the spec
  scales the Deployment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1200)]

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "gpufleet"
MODELS_NS = "models"
OPERATOR_NS = "gpufleet-system"


def _works(*command: str) -> bool:
    if shutil.which(command[0]) is None:
        return False
    try:
        return subprocess.run(command, capture_output=True, timeout=60, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _skip_reason() -> str | None:
    if os.environ.get("GPUFLEET_E2E") != "1":
        return "set GPUFLEET_E2E=1 to run the kind end-to-end test"
    if not _works("docker", "info"):
        return "docker is not available"
    if not _works("kind", "version"):
        return "kind is not installed"
    if not _works("kubectl", "version", "--client"):
        return "kubectl is not installed"
    return None


_REASON = _skip_reason()
if _REASON is not None:
    pytest.skip(_REASON, allow_module_level=True)


def _app_version() -> str:
    version: str = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["appVersion"]
    return version


IMAGE = os.environ.get("GPUFLEET_E2E_IMAGE", f"ghcr.io/gpufleet/gpufleet-operator:{_app_version()}")


def _run(*command: str, stdin: str | None = None, timeout: float = 300) -> str:
    result = subprocess.run(
        command, input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


E2E_POLL_S = 2.0
"""Polling a real cluster: there is no event to wait on from here."""
E2E_TIMEOUT_S = 300.0


class Cluster:
    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        return _run("kubectl", f"--kubeconfig={self.kubeconfig}", *args, stdin=stdin)

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        result = subprocess.run(
            ["kubectl", f"--kubeconfig={self.kubeconfig}", "-n", namespace, "get", kind, name,
             "-o", "json"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            return None
        obj: dict[str, Any] = json.loads(result.stdout)
        return obj

    def apply(self, obj: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", stdin=yaml.safe_dump(obj))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not _works("docker", "image", "inspect", IMAGE):
        pytest.skip(f"operator image {IMAGE} not built locally (set GPUFLEET_E2E_IMAGE)")
    name = f"gpufleet-e2e-{uuid.uuid4().hex[:6]}"
    kubeconfig = tmp_path_factory.mktemp("kind") / "kubeconfig"
    _run("kind", "create", "cluster", "--name", name, "--kubeconfig", str(kubeconfig),
         "--wait", "180s", timeout=600)  # fmt: skip
    try:
        _run("kind", "load", "docker-image", IMAGE, "--name", name, timeout=600)
        yield Cluster(kubeconfig)
    finally:
        _run("kind", "delete", "cluster", "--name", name, timeout=300)


@pytest.fixture(scope="module")
def installed(cluster: Cluster) -> Cluster:
    import helm_python as helm

    cluster.kubectl("create", "namespace", MODELS_NS)
    repository, _, tag = IMAGE.rpartition(":")
    values = {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},
        "watch": {"namespaces": [MODELS_NS]},
        # No Prometheus in the cluster: the operator must still reconcile and report.
        "operator": {"prometheusUrl": "http://127.0.0.1:9"},
    }
    with helm.Config(kubeconfig_path=cluster.kubeconfig, namespace=OPERATOR_NS) as config:
        config.install(
            CHART_DIR, "gpufleet", values, namespace=OPERATOR_NS, create_namespace=True,
            wait="watcher", timeout=300,
        )  # fmt: skip
    cluster.kubectl("-n", OPERATOR_NS, "rollout", "status", "deployment/gpufleet", "--timeout=300s")
    return cluster


def _model(name: str, **scaling: Any) -> dict[str, Any]:
    return {
        "apiVersion": "gpufleet.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": MODELS_NS},
        "spec": {
            "model": {"name": "tiny-mlp", "repository": "pvc://models/repository"},
            "runtime": {"type": "torch"},
            "resources": {"gpus": 0, "gpuType": "cpu", "cpu": "100m", "memory": "256Mi"},
            "slo": {"latencyP95Ms": 200},
            "cost": {"maxHourlyCost": 1.0},
            "scaling": {"minReplicas": 1, "maxReplicas": 4, **scaling},
        },
    }


def _condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for condition in (obj or {}).get("status", {}).get("conditions", []):
        if condition.get("type") == type_:
            found: dict[str, Any] = condition
            return found
    return None


def test_rejected_spec_is_reported_on_ready(installed: Cluster) -> None:
    # Passes the CRD's schema but not the operator's price catalog.
    bad = _model("unpriced")
    bad["spec"]["resources"]["gpuType"] = "nvidia-unknown"
    installed.apply(bad)

    def rejected() -> bool:
        ready = _condition(installed.get("modeldeployment", "unpriced", MODELS_NS), "Ready")
        return ready is not None and (ready["status"], ready["reason"]) == ("False", "InvalidSpec")

    wait_for(
        rejected, timeout=E2E_TIMEOUT_S, interval=E2E_POLL_S, what="Ready=False reason=InvalidSpec"
    )
    ready = _condition(installed.get("modeldeployment", "unpriced", MODELS_NS), "Ready")
    assert ready is not None
    assert "resources.gpuType" in ready["message"]


def test_valid_spec_is_reconciled_and_scaled_to_its_bounds(installed: Cluster) -> None:
    installed.apply(_model("tiny", minReplicas=2))

    def deployment_replicas() -> int | None:
        deployment = installed.get("deployment", "tiny", MODELS_NS)
        return None if deployment is None else int(deployment["spec"]["replicas"])

    wait_for(
        lambda: deployment_replicas() == 2,
        timeout=E2E_TIMEOUT_S,
        interval=E2E_POLL_S,
        what="the model Deployment with 2 replicas",
    )

    def observed() -> bool:
        md = installed.get("modeldeployment", "tiny", MODELS_NS) or {}
        reconciled = _condition(md, "Reconciled")
        return (
            md.get("status", {}).get("observedGeneration") == md["metadata"]["generation"]
            and reconciled is not None
            and reconciled["status"] == "True"
        )

    wait_for(
        observed,
        timeout=E2E_TIMEOUT_S,
        interval=E2E_POLL_S,
        what="Reconciled=True for the current generation",
    )

    installed.kubectl(
        "-n", MODELS_NS, "patch", "modeldeployment", "tiny", "--type=merge",
        "-p", json.dumps({"spec": {"scaling": {"minReplicas": 3}}}),
    )  # fmt: skip
    wait_for(
        lambda: deployment_replicas() == 3,
        timeout=E2E_TIMEOUT_S,
        interval=E2E_POLL_S,
        what="the Deployment scaled to the new minReplicas",
    )
