"""The node agent against the API emulator: Deployments become real server processes.

What a user of the local fleet sees: a Deployment asking for N replicas gets N
serving processes, Pod objects and a Deployment status a controller can trust;
scaling in drains a pod without failing the requests it holds; a dead process is
reported and replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gpufleet.domain.manifests.deployment import build_deployment
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.spec import parse_spec
from gpufleet_devtools.apiserver.server import EmulatedApiServer
from gpufleet_devtools.local.agent import NodeAgent
from gpufleet_devtools.local.demo_model import write_triton_demo_model
from gpufleet_devtools.local.manifest import load_manifest
from gpufleet_devtools.local.paths import TRITON_EXAMPLE_MANIFEST
from gpufleet_devtools.local.targets import RecordingTargets
from tests.local.conftest import running_agent
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.slow
NS = "default"
NAME = "tiny-mlp"
START_S = 60.0


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _http_port(pod: dict[str, Any]) -> int:
    ports = pod["spec"]["containers"][0]["ports"]
    return int(next(p["containerPort"] for p in ports if p["name"] == "http"))


@pytest.fixture
async def agent(
    apiserver: EmulatedApiServer, volumes: Path, tmp_path: Path
) -> AsyncIterator[tuple[NodeAgent, RecordingTargets]]:
    async with running_agent(apiserver, volumes, tmp_path / "logs") as running:
        yield running


def _create_deployment(
    apiserver: EmulatedApiServer, example: dict[str, Any], replicas: int
) -> None:
    owner = Owner(NAME, NS, "uid-of-the-modeldeployment")
    body = build_deployment(owner, parse_spec(example["spec"]), replicas)
    apiserver.create("apps/v1/deployments", body, NS)


def _pods(apiserver: EmulatedApiServer) -> list[dict[str, Any]]:
    return apiserver.list("v1/pods", NS)


def _shm(prefix: str) -> list[str]:
    return sorted(p.name for p in Path("/dev/shm").glob(f"{prefix}*"))


async def _infer(session: aiohttp.ClientSession, port: int) -> int:
    body = {
        "inputs": [{"name": "INPUT0", "shape": [1, 16], "datatype": "FP32", "data": [0.5] * 16}]
    }
    async with session.post(f"http://127.0.0.1:{port}/v2/models/{NAME}/infer", json=body) as r:
        return r.status


async def test_replicas_become_ready_serving_processes_and_scale_in_drains(
    apiserver: EmulatedApiServer,
    example: dict[str, Any],
    agent: tuple[NodeAgent, RecordingTargets],
) -> None:
    node, targets = agent
    _create_deployment(apiserver, example, replicas=2)

    def ready_pods() -> list[dict[str, Any]] | None:
        pods = [p for p in _pods(apiserver) if _ready(p)]
        return pods if len(pods) == 2 else None

    pods = await wait_for_async(ready_pods, timeout=START_S, what="two ready pods")
    status = await wait_for_async(
        lambda: (
            (s := apiserver.get("apps/v1/deployments", NAME, NS).get("status") or {}).get(
                "readyReplicas"
            )
            == 2
            and s
        ),
        timeout=10,
        what="readyReplicas=2",
    )
    assert status["replicas"] == 2
    assert status["availableReplicas"] == 2
    for pod in pods:
        meta = pod["metadata"]
        assert meta["labels"]["gpufleet.io/modeldeployment"] == NAME
        assert meta["ownerReferences"][0]["kind"] == "Deployment"
        assert pod["status"]["podIP"] == "127.0.0.1"
    # Two distinct real servers answer inference on the ports the Pods report.
    async with aiohttp.ClientSession() as session:
        assert {await _infer(session, _http_port(p)) for p in pods} == {200}
    assert len({_http_port(p) for p in pods}) == 2
    assert sorted(t.labels["pod"] for t in targets.targets) == sorted(
        p["metadata"]["name"] for p in pods
    )
    processes = [pod.process for pod in node.pods(NS, NAME)]
    assert all(p is not None and p.exit_code() is None for p in processes)

    # Scale in while a client keeps sending to whichever pod is still Ready.
    async with aiohttp.ClientSession() as session:
        statuses: list[int] = []

        async def client() -> None:
            while True:
                ready = [p for p in _pods(apiserver) if _ready(p)]
                for pod in ready:
                    statuses.append(await _infer(session, _http_port(pod)))

        sender = asyncio.create_task(client())
        apiserver.patch("apps/v1/deployments", NAME, {"spec": {"replicas": 1}}, NS)
        await wait_for_async(lambda: len(_pods(apiserver)) == 1, timeout=30, what="one pod left")
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
    assert statuses
    assert set(statuses) == {200}
    exited = [p for p in processes if p is not None and p.exit_code() is not None]
    assert [p.exit_code() for p in exited] == [0]  # drained: a clean exit, not a kill
    await wait_for_async(lambda: len(targets.targets) == 1, timeout=10, what="one scrape target")
    await wait_for_async(
        lambda: (apiserver.get("apps/v1/deployments", NAME, NS)["status"]).get("replicas") == 1,
        timeout=10,
        what="status.replicas=1",
    )


async def test_a_dead_process_is_reported_and_replaced(
    apiserver: EmulatedApiServer,
    example: dict[str, Any],
    agent: tuple[NodeAgent, RecordingTargets],
) -> None:
    node, _ = agent
    _create_deployment(apiserver, example, replicas=1)
    await wait_for_async(
        lambda: [p for p in _pods(apiserver) if _ready(p)], timeout=START_S, what="a ready pod"
    )
    process = node.pods(NS, NAME)[0].process
    assert process is not None
    os.kill(process.pid, signal.SIGKILL)

    def restarted() -> dict[str, Any] | None:
        pods = _pods(apiserver)
        statuses = pods[0]["status"]["containerStatuses"] if pods else []
        return pods[0] if statuses and statuses[0]["restartCount"] == 1 else None

    pod = await wait_for_async(restarted, timeout=10, what="restartCount=1")
    assert pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] != 0
    events = apiserver.list("v1/events", NS)
    assert any(
        e["reason"] == "BackOff" and e["involvedObject"]["name"] == pod["metadata"]["name"]
        for e in events
    )
    await wait_for_async(
        lambda: (
            (apiserver.get("apps/v1/deployments", NAME, NS)["status"]).get("readyReplicas") == 1
            and [p for p in _pods(apiserver) if _ready(p)]
        ),
        timeout=START_S,
        what="the Deployment ready again",
    )


async def test_a_triton_pod_serves_and_leaves_no_shared_memory(
    apiserver: EmulatedApiServer, tmp_path: Path, agent: tuple[NodeAgent, RecordingTargets]
) -> None:
    pytest.importorskip("pytriton", reason="nvidia-pytriton bundles the tritonserver binary")
    manifest = load_manifest(TRITON_EXAMPLE_MANIFEST)
    write_triton_demo_model(agent[0].volumes / "models" / "triton", manifest.spec.model.name)
    owner = Owner(manifest.name, NS, "uid-of-the-triton-modeldeployment")
    apiserver.create("apps/v1/deployments", build_deployment(owner, manifest.spec, 1), NS)
    pods = await wait_for_async(
        lambda: [p for p in _pods(apiserver) if _ready(p)], timeout=START_S, what="ready"
    )
    prefix = f"gpufleet-{pods[0]['metadata']['name']}-"
    async with aiohttp.ClientSession() as session:
        body = {
            "inputs": [{"name": "INPUT", "shape": [1, 16], "datatype": "FP32", "data": [0.5] * 16}]
        }
        url = f"http://127.0.0.1:{_http_port(pods[0])}/v2/models/{manifest.name}/infer"
        async with session.post(url, json=body) as response:
            assert response.status == 200
    assert _shm(prefix)  # the python backend's segments
    apiserver.patch("apps/v1/deployments", manifest.name, {"spec": {"replicas": 0}}, NS)
    await wait_for_async(lambda: not _pods(apiserver), timeout=60, what="the pod gone")
    assert _shm(prefix) == []
