"""The scaling loop with real parts: Prometheus scraping Triton under load, the operator on
the API emulator deciding the Deployment's replicas.

There is no kubelet here, so one real Triton server stands for the Deployment's first
pod; the test marks that one pod ready and leaves any added replicas "starting". What
is checked is what the operator decides and says: it scales up under load, holds and
reports when Prometheus is lost mid-load, resumes when it is back, and scales down to
``minReplicas`` once the load has stopped and the stabilization window has passed.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gpufleet_devtools.apiserver.server import EmulatedApiServer
from tests.support.exposition import ExpositionServer
from tests.support.kube import (
    DEPLOYMENTS,
    EVENTS,
    MODELDEPLOYMENTS,
    Kind,
    Kube,
    condition,
    modeldeployment,
)
from tests.support.operator import running_operator
from tests.support.pod_states import image_pull_backoff, serving, unschedulable
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

CRD = Path(__file__).resolve().parents[2] / "crds" / "modeldeployments.gpufleet.io.yaml"
NS = "default"
NAME = "mlp"


def _require_binaries() -> None:
    if shutil.which("prometheus") is None:
        pytest.skip("the Debian prometheus binary is not installed (make system-deps)")
    from gpufleet_devtools.triton import bundled_tritonserver

    try:
        bundled_tritonserver()
    except FileNotFoundError as exc:
        pytest.skip(f"no tritonserver from nvidia-pytriton: {exc}")


class ClosedLoopLoad:
    """``clients`` threads each sending one inference after another until stopped."""

    def __init__(self, url: str, clients: int) -> None:
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(url,), daemon=True) for _ in range(clients)
        ]
        for thread in self._threads:
            thread.start()

    def _run(self, url: str) -> None:
        import tritonclient.http as http

        client = http.InferenceServerClient(url)
        data = np.ones((1, 16), dtype=np.float32)
        while not self._stop.is_set():
            tensor = http.InferInput("INPUT", [1, 16], "FP32")
            tensor.set_data_from_numpy(data)
            try:
                client.infer("mlp", [tensor])
            except Exception:  # a refused request under overload: keep going
                self._stop.wait(0.05)
        client.close()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)


@pytest.fixture
def real_parts(tmp_path: Path) -> Iterator[dict[str, Any]]:
    _require_binaries()
    from gpufleet_devtools.prometheus import PrometheusServer, ScrapeTarget
    from gpufleet_devtools.triton import TritonServer, write_torch_model

    # 40 ms per batch of at most 2: about 50 requests/s at best; 12 clients overload it.
    triton = TritonServer(
        write_torch_model(tmp_path / "repo", "mlp", work_ms=40.0, max_batch_size=2)
    )
    prometheus = PrometheusServer(scrape_interval_s=1.0)
    with triton, prometheus:
        labels = {"namespace": NS, "modeldeployment": NAME, "pod": f"{NAME}-0"}
        prometheus.set_targets([ScrapeTarget(triton.metrics_address, labels)])
        with EmulatedApiServer(crds=[CRD]) as apiserver:
            yield {"triton": triton, "prometheus": prometheus, "apiserver": apiserver}


def _spec() -> dict[str, Any]:
    return {
        "model": {"name": "mlp", "repository": "pvc://models/repo"},
        "runtime": {"type": "triton"},
        "resources": {"gpus": 0, "gpuType": "cpu", "cpu": "1", "memory": "1Gi"},
        "slo": {"latencyP95Ms": 100},
        "cost": {"maxHourlyCost": 1.0},
        "scaling": {
            "minReplicas": 1,
            "maxReplicas": 6,
            "coldStartSeconds": 5,
            "scaleDownStabilizationSeconds": 10,
        },
    }


def _replicas(kube: Kube) -> int:
    deployment = kube.get(DEPLOYMENTS, NS, NAME)
    return int(deployment["spec"]["replicas"]) if deployment else -1


def _status(kube: Kube) -> dict[str, Any]:
    md = kube.get(MODELDEPLOYMENTS, NS, NAME) or {}
    return dict(md.get("status") or {})


def _condition_status(kube: Kube, type_: str) -> str | None:
    return (condition(kube.get(MODELDEPLOYMENTS, NS, NAME), type_) or {}).get("status")


def fast_autoscaler_env(prometheus_url: str) -> dict[str, str]:
    """The operator's settings for these tests: the real loop at one-second ticks and a
    five-second rate window, so a change of load shows within seconds."""
    return {
        "GPUFLEET_AUTOSCALING": "1",
        "GPUFLEET_PROMETHEUS_URL": prometheus_url,
        "GPUFLEET_TICK_SECONDS": "1",
        "GPUFLEET_RATE_WINDOW_SECONDS": "5",
        "GPUFLEET_SCRAPE_INTERVAL_SECONDS": "1",
        "GPUFLEET_STALE_AFTER_SECONDS": "5",
        "GPUFLEET_QUERY_TIMEOUT_SECONDS": "2",
    }


def test_scales_on_real_metrics_and_holds_when_they_are_lost(
    real_parts: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kopf.objects")
    apiserver: EmulatedApiServer = real_parts["apiserver"]
    prometheus = real_parts["prometheus"]
    kube = Kube(apiserver.url)
    env = fast_autoscaler_env(prometheus.url)
    with running_operator(str(apiserver.kubeconfig_path), **env):
        assert (
            kube.create(MODELDEPLOYMENTS, NS, modeldeployment(NAME, _spec(), NS)).status_code == 201
        )
        wait_for(lambda: kube.get(DEPLOYMENTS, NS, NAME), what="Deployment")
        # The one real server is the Deployment's first pod, and it is ready.
        kube.merge_patch(
            DEPLOYMENTS, NS, NAME, {"status": {"replicas": 1, "readyReplicas": 1}}, sub="status"
        )
        wait_for(
            lambda: _condition_status(kube, "MetricsAvailable") == "True",
            timeout=60,
            what="metrics",
        )
        assert _replicas(kube) == 1  # idle: nothing to add

        load = ClosedLoopLoad(real_parts["triton"].http_url, clients=12)
        try:
            wait_for(lambda: _replicas(kube) > 1, timeout=90, what="scale-up under load")
            # The Deployment is patched first and the status written after it, so
            # wait for the status to catch up rather than read it in between.
            wait_for(
                lambda: _status(kube).get("desiredReplicas") == _replicas(kube),
                timeout=30,
                what="status.desiredReplicas to match the Deployment",
            )
            scaled_to = _replicas(kube)
            assert scaled_to > 1
            assert _status(kube)["lastScaleReason"]
            # The load as measured: a scale-up decided on the queue alone can come before
            # the rate window holds two scrapes (a rate of 0 then), so wait for the next ticks.
            wait_for(
                lambda: (_status(kube).get("requestRate") or 0) > 0,
                timeout=30,
                what="status.requestRate to show the load",
            )

            # Prometheus goes away mid-load: hold, and say so -- never scale down.
            prometheus.stop(keep_data=True)
            wait_for(
                lambda: _condition_status(kube, "MetricsAvailable") == "False",
                timeout=30,
                what="metrics lost",
            )
            held = _replicas(kube)
            assert held >= scaled_to
            md = kube.get(MODELDEPLOYMENTS, NS, NAME)
            assert "Prometheus unreachable" in (condition(md, "MetricsAvailable") or {}).get(
                "message", ""
            )
            assert _replicas(kube) >= held

            prometheus.start()
            wait_for(
                lambda: _condition_status(kube, "MetricsAvailable") == "True",
                timeout=60,
                what="metrics back",
            )
        finally:
            load.stop()
        # Load gone: back to minReplicas after the stabilization window -- and, when the
        # load's last cold-start window reads as a step down, after the ski-rental hold
        # too (20 cold starts of 5 s): up to ~110 s, which a 120 s wait left 10 s of.
        wait_for(lambda: _replicas(kube) == 1, timeout=200, what="scale-down after load")

        def reasons() -> set[str]:
            return {str(e.get("reason")) for e in kube.list(EVENTS, NS)}

        # Every decision was explained in an Event (kopf posts them in the background).
        wait_for(lambda: {"MetricsUnknown", "ScaleDown"} <= reasons(), what="Events")
        assert any(r.startswith("ScaleUp") for r in reasons()), reasons()
        # ...and in the operator's log, with the same sentence.
        logged = [r.getMessage() for r in caplog.records if r.name == "kopf.objects"]
        assert any(m.startswith("ScaleUp") and "scaled 1\u2192" in m for m in logged), logged
        assert any(m.startswith("MetricsUnknown") for m in logged), logged


class GatewayExporter:
    """Plays a request-holding gateway in front of the model: its queue for the model, as
    a Prometheus gauge on ``/metrics`` (what the activation query reads at zero pods)."""

    def __init__(self) -> None:
        self.queued = 0.0
        self._endpoint = ExpositionServer(
            lambda: f'gateway_queued_requests{{model="{NAME}"}} {self.queued}\n'
        )
        self.address = self._endpoint.address

    def close(self) -> None:
        self._endpoint.stop()


def _zero_spec() -> dict[str, Any]:
    spec = _spec()
    spec["scaling"] = {
        "minReplicas": 0,
        "maxReplicas": 2,
        "coldStartSeconds": 5,
        "activation": {
            "query": f'sum(gateway_queued_requests{{model="{NAME}"}})',
            "threshold": 0,
            "scaleToZeroAfterSeconds": 5,
        },
    }
    return spec


def _ready(kube: Kube) -> tuple[str | None, str | None]:
    found = condition(kube.get(MODELDEPLOYMENTS, NS, NAME), "Ready") or {}
    return found.get("status"), found.get("reason")


def test_scales_from_zero_on_the_gateway_queue_and_back_to_zero(
    real_parts: dict[str, Any],
) -> None:
    from gpufleet_devtools.prometheus import ScrapeTarget

    apiserver: EmulatedApiServer = real_parts["apiserver"]
    prometheus = real_parts["prometheus"]
    kube = Kube(apiserver.url)
    gateway = GatewayExporter()
    pod_target = ScrapeTarget(
        real_parts["triton"].metrics_address,
        {"namespace": NS, "modeldeployment": NAME, "pod": f"{NAME}-0"},
    )
    gateway_target = ScrapeTarget(gateway.address, {"role": "gateway"})
    prometheus.set_targets([gateway_target])  # no pod runs: only the gateway is scraped
    env = fast_autoscaler_env(prometheus.url)
    try:
        with running_operator(str(apiserver.kubeconfig_path), **env):
            created = kube.create(MODELDEPLOYMENTS, NS, modeldeployment(NAME, _zero_spec(), NS))
            assert created.status_code == 201, created.text
            wait_for(lambda: kube.get(DEPLOYMENTS, NS, NAME), what="Deployment")
            assert _replicas(kube) == 0
            # Idle at zero, and the gateway's queue is known: that is Ready.
            wait_for(lambda: _ready(kube) == ("True", "ScaledToZero"), timeout=60, what="zero")

            # Requests wait at the gateway: one pod is started.
            gateway.queued = 3
            wait_for(lambda: _replicas(kube) == 1, timeout=60, what="scale from zero")
            # The tick scales the Deployment, then writes status: wait for that write.
            wait_for(
                lambda: _status(kube).get("desiredReplicas") == 1,
                timeout=30,
                what="status of the scale from zero",
            )
            assert _status(kube)["decision"]["rule"] == "activation"
            assert _ready(kube)[0] != "True"  # asked for, not serving yet
            # The pod comes up (the real Triton), is scraped, and takes the queue.
            prometheus.set_targets([gateway_target, pod_target])
            kube.merge_patch(
                DEPLOYMENTS, NS, NAME, {"status": {"replicas": 1, "readyReplicas": 1}}, sub="status"
            )
            gateway.queued = 0
            wait_for(lambda: _ready(kube) == ("True", "Serving"), timeout=60, what="serving")

            # No request for scaleToZeroAfterSeconds: back to zero.
            wait_for(lambda: _replicas(kube) == 0, timeout=120, what="scale to zero")
            prometheus.set_targets([gateway_target])
            kube.merge_patch(
                DEPLOYMENTS, NS, NAME, {"status": {"replicas": 0, "readyReplicas": 0}}, sub="status"
            )
            wait_for(lambda: _ready(kube) == ("True", "ScaledToZero"), timeout=60, what="zero")

            # The gateway stops answering: at zero nothing could wake the fleet -- not Ready.
            gateway.close()
            wait_for(
                lambda: _ready(kube) == ("False", "ActivationUnknown"),
                timeout=60,
                what="activation unknown",
            )
    finally:
        gateway.close()


def _decided_after(kube: Kube, moment: datetime) -> bool:
    decided = (_status(kube).get("decision") or {}).get("decidedAt")
    return decided is not None and datetime.fromisoformat(decided) >= moment


class ReplicaWatch:
    """The Deployment's replica count, sampled every 100 ms from a thread: its range."""

    def __init__(self, kube: Kube) -> None:
        self.lowest: int | None = None
        self.highest: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(kube,), daemon=True)
        self._thread.start()

    def _run(self, kube: Kube) -> None:
        while not self._stop.wait(0.1):
            replicas = _replicas(kube)
            self.lowest = replicas if self.lowest is None else min(self.lowest, replicas)
            self.highest = replicas if self.highest is None else max(self.highest, replicas)

    def stop(self) -> int | None:
        self._stop.set()
        self._thread.join(timeout=5)
        return self.lowest


def test_a_restart_under_load_keeps_the_replicas_and_what_was_learned(
    real_parts: dict[str, Any],
) -> None:
    apiserver: EmulatedApiServer = real_parts["apiserver"]
    prometheus = real_parts["prometheus"]
    kube = Kube(apiserver.url)
    env = fast_autoscaler_env(prometheus.url)
    kubeconfig = str(apiserver.kubeconfig_path)
    load = ClosedLoopLoad(real_parts["triton"].http_url, clients=12)
    try:
        with running_operator(kubeconfig, **env):
            assert kube.create(MODELDEPLOYMENTS, NS, modeldeployment(NAME, _spec(), NS)).ok
            wait_for(lambda: kube.get(DEPLOYMENTS, NS, NAME), what="Deployment")
            kube.merge_patch(
                DEPLOYMENTS, NS, NAME, {"status": {"replicas": 1, "readyReplicas": 1}}, sub="status"
            )
            wait_for(lambda: _replicas(kube) > 1, timeout=90, what="scale-up under load")
            wait_for(lambda: _status(kube).get("learned"), timeout=60, what="something learned")
        learned = _status(kube)["learned"]
        scaled_to = _replicas(kube)
        watch = ReplicaWatch(kube)
        restarted = datetime.now(UTC)
        with running_operator(kubeconfig, **env):
            # Decisions of the new operator over more than 10 s (numbers alone are written
            # every 15 s at most): the span in which a forgetful scaler would release pods.
            wait_for(
                lambda: _decided_after(kube, restarted + timedelta(seconds=10)),
                timeout=60,
                what="the new operator's decisions",
            )
            restored = _status(kube)["learned"]
        lowest = watch.stop()
    finally:
        load.stop()
    # No dip: the new operator neither released pods nor started from its priors.
    assert lowest is not None
    assert lowest >= scaled_to, (lowest, scaled_to)
    for key, value in learned.items():
        assert key in restored, (learned, restored)
        if key == "coldStartSeconds":
            assert restored[key] == pytest.approx(value)


PODS = Kind("", "v1", "pods")


UNSCHEDULABLE = unschedulable("0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")
"""No GPU node has room, and no node autoscaler adds one."""
CANNOT_PULL = image_pull_backoff('Back-off pulling image "nvcr.io/nvidia/tritonserver:24.13-py3"')
"""Placed on a GPU node, holding its GPU, and never starting: the image tag does not exist."""


def _pod(kube: Kube, name: str, status: dict[str, Any]) -> None:
    labels = {"app.kubernetes.io/managed-by": "gpufleet", "gpufleet.io/modeldeployment": NAME}
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels}}
    assert kube.create(PODS, NS, body).ok
    assert kube.merge_patch(PODS, NS, name, {"status": status}, sub="status").ok


def _scaled_up_under_load(kube: Kube, spec: dict[str, Any]) -> int:
    """Apply ``spec`` with its one real server ready, and wait for the load to scale it up:
    the replicas asked for."""
    assert kube.create(MODELDEPLOYMENTS, NS, modeldeployment(NAME, spec, NS)).ok
    wait_for(lambda: kube.get(DEPLOYMENTS, NS, NAME), what="Deployment")
    kube.merge_patch(
        DEPLOYMENTS, NS, NAME, {"status": {"replicas": 1, "readyReplicas": 1}}, sub="status"
    )
    wait_for(lambda: _replicas(kube) > 1, timeout=90, what="scale-up under load")
    return _replicas(kube)


@pytest.mark.parametrize(
    ("pod_status", "limited_by", "reason"),
    [
        pytest.param(UNSCHEDULABLE, "cluster", "Cluster", id="unschedulable"),
        pytest.param(CANNOT_PULL, "pods", "PodsCannotStart", id="image-pull-failing"),
    ],
)
def test_pods_that_do_not_come_stop_the_scale_up(
    real_parts: dict[str, Any], pod_status: dict[str, Any], limited_by: str, reason: str
) -> None:
    apiserver: EmulatedApiServer = real_parts["apiserver"]
    prometheus = real_parts["prometheus"]
    kube = Kube(apiserver.url)
    env = fast_autoscaler_env(prometheus.url)
    spec = _spec()
    spec["scaling"]["provisioningTimeoutSeconds"] = 3
    load = ClosedLoopLoad(real_parts["triton"].http_url, clients=12)
    try:
        with running_operator(str(apiserver.kubeconfig_path), **env):
            asked = _scaled_up_under_load(kube, spec)
            # The pods asked for never serve.
            for index in range(1, asked):
                _pod(kube, f"{NAME}-pending-{index}", pod_status)
            wait_for(
                lambda: (_status(kube).get("decision") or {}).get("limitedBy") == limited_by,
                timeout=60,
                what=f"{limited_by} named as the limit",
            )
            held = _replicas(kube)
            watch = ReplicaWatch(kube)
            limited_at = datetime.now(UTC)
            wait_for(
                lambda: _decided_after(kube, limited_at + timedelta(seconds=5)),
                timeout=60,
                what="decisions while limited",
            )
            highest = watch.highest
            watch.stop()
            md = kube.get(MODELDEPLOYMENTS, NS, NAME)
            # Said once, as a warning, when the limit was reached.
            warned = wait_for(
                lambda: [e for e in kube.list(EVENTS, NS) if e.get("reason") == reason],
                what="a ScalingLimited Event",
            )
    finally:
        load.stop()
    # Under the same overload, no pod is added to those that do not come.
    assert highest == held, (highest, held)
    assert {e["type"] for e in warned} == {"Warning"}
    limited = condition(md, "ScalingLimited") or {}
    assert (limited.get("status"), limited.get("reason")) == ("True", reason)
    schedulable = condition(md, "Schedulable") or {}
    if pod_status is UNSCHEDULABLE:
        assert (schedulable.get("status"), schedulable.get("reason")) == (
            "False",
            "ProvisioningTimedOut",
        )
    else:
        assert "cannot start" in limited["message"]


def test_pods_that_stop_serving_under_load_are_replaced(real_parts: dict[str, Any]) -> None:
    apiserver: EmulatedApiServer = real_parts["apiserver"]
    prometheus = real_parts["prometheus"]
    kube = Kube(apiserver.url)
    spec = _spec()
    spec["scaling"]["maxReplicas"] = 20
    spec["cost"]["maxHourlyCost"] = 100.0
    env = fast_autoscaler_env(prometheus.url)
    load = ClosedLoopLoad(real_parts["triton"].http_url, clients=12)
    try:
        with running_operator(str(apiserver.kubeconfig_path), **env):
            asked = _scaled_up_under_load(kube, spec)
            # Every pod but one served, then stopped passing readiness (their node went
            # NotReady): the one left serves alone.
            for index in range(1, asked):
                _pod(kube, f"{NAME}-lost-{index}", serving("False", "2026-01-01T11:00:00Z"))
            kube.merge_patch(
                DEPLOYMENTS,
                NS,
                NAME,
                {"status": {"replicas": asked, "readyReplicas": 1}},
                sub="status",
            )
            status = wait_for(
                lambda: (
                    (s := _status(kube)).get("decision", {}).get("reasonCode")
                    == "ReplacingLostPods"
                    and s
                ),
                timeout=60,
                what="replacements ordered",
            )
            replicas = _replicas(kube)
    finally:
        load.stop()
    lost = asked - 1
    reason = status["decision"]["reason"]
    assert f"{lost} pod{'s' if lost > 1 else ''} stopped passing readiness" in reason
    # The lost pods are asked for on top of those the load needs serving.
    assert status["desiredReplicas"] > asked
    assert replicas >= status["desiredReplicas"]
