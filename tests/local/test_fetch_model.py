"""A model fetched over http(s) on the local fleet: the operator's init container, really run.

A ModelDeployment whose ``model.repository`` is ``http(s)://.../archive.tar.gz`` gets an
init container (``wget ... | tar -xz``) that fills the model volume before the server
starts. The node agent runs it as a kubelet would: the pod serves once the archive is
unpacked, and an archive that cannot be fetched keeps the pod not ready, reported as
``Init:Error`` then ``Init:CrashLoopBackOff`` with an Event.
"""

from __future__ import annotations

import functools
import shutil
import tarfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gpufleet.domain.manifests.deployment import build_deployment
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.spec import parse_spec
from gpufleet.services.status import MODELDEPLOYMENTS
from gpufleet_devtools.apiserver.server import EmulatedApiServer
from gpufleet_devtools.local.agent import NodeAgent
from gpufleet_devtools.local.demo import apply_manifest
from gpufleet_devtools.local.fleet import LocalFleet
from gpufleet_devtools.local.manifest import load_manifest
from gpufleet_devtools.local.paths import EXAMPLE_MANIFEST
from gpufleet_devtools.local.targets import RecordingTargets
from tests.local.conftest import running_agent
from tests.support.waiting import wait_for_async

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
NS = "default"
NAME = "tiny-mlp"
START_S = 60.0


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not the test's output."""


@pytest.fixture
def archive_server(tmp_path: Path, volumes: Path) -> Iterator[str]:
    """A loopback HTTP server with the demo model repository as ``repository.tar.gz``."""
    if shutil.which("wget") is None:
        pytest.skip("the fetch runs the host's wget (Debian package wget)")
    served = tmp_path / "served"
    served.mkdir()
    with tarfile.open(served / "repository.tar.gz", "w:gz") as archive:
        repository = volumes / "models" / "repository"
        for entry in repository.iterdir():
            archive.add(entry, arcname=entry.name)
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
async def agent(
    apiserver: EmulatedApiServer, tmp_path: Path
) -> AsyncIterator[tuple[NodeAgent, RecordingTargets]]:
    async with running_agent(apiserver, tmp_path / "volumes", tmp_path / "logs") as running:
        yield running


def _deploy(apiserver: EmulatedApiServer, example: dict[str, Any], repository: str) -> None:
    spec = parse_spec(
        {**example["spec"], "model": {**example["spec"]["model"], "repository": repository}}
    )
    owner = Owner(NAME, NS, "uid-of-the-modeldeployment")
    apiserver.create("apps/v1/deployments", build_deployment(owner, spec, 1), NS)


def _pod(apiserver: EmulatedApiServer) -> dict[str, Any] | None:
    pods = apiserver.list("v1/pods", NS)
    return pods[0] if pods else None


def _condition(pod: dict[str, Any], type_: str) -> str | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition["type"] == type_:
            return str(condition["status"])
    return None


def _fetch_status(pod: dict[str, Any]) -> dict[str, Any]:
    statuses = (pod.get("status") or {}).get("initContainerStatuses") or [{}]
    return dict(statuses[0])


def _fetch_state(pod: dict[str, Any]) -> dict[str, Any]:
    return dict(_fetch_status(pod).get("state") or {})


def _pod_where(
    apiserver: EmulatedApiServer, test: Callable[[dict[str, Any]], bool]
) -> Callable[[], dict[str, Any] | None]:
    """A probe: the pod, once ``test`` holds for it."""

    def probe() -> dict[str, Any] | None:
        pod = _pod(apiserver)
        return pod if pod is not None and test(pod) else None

    return probe


async def test_a_model_fetched_over_http_is_served(
    apiserver: EmulatedApiServer,
    example: dict[str, Any],
    archive_server: str,
    agent: tuple[NodeAgent, RecordingTargets],
) -> None:
    _deploy(apiserver, example, f"{archive_server}/repository.tar.gz")
    pod = await wait_for_async(
        _pod_where(apiserver, lambda pod: _condition(pod, "Ready") == "True"),
        timeout=START_S,
        what="the pod Ready",
    )
    fetch = _fetch_status(pod)
    assert fetch["name"] == "fetch-model"
    assert fetch["state"]["terminated"]["reason"] == "Completed"
    assert _condition(pod, "Initialized") == "True"
    ports = pod["spec"]["containers"][0]["ports"]
    port = next(p["containerPort"] for p in ports if p["name"] == "http")
    body = {
        "inputs": [{"name": "INPUT0", "shape": [1, 16], "datatype": "FP32", "data": [0.5] * 16}]
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://127.0.0.1:{port}/v2/models/{NAME}/infer", json=body) as response,
    ):
        assert response.status == 200
        outputs = (await response.json())["outputs"]
    assert outputs[0]["data"]


async def test_an_archive_that_404s_keeps_the_pod_unready_and_says_why(
    apiserver: EmulatedApiServer,
    example: dict[str, Any],
    archive_server: str,
    agent: tuple[NodeAgent, RecordingTargets],
) -> None:
    _, targets = agent
    _deploy(apiserver, example, f"{archive_server}/missing.tar.gz")
    # kubectl's STATUS column: Init:Error after the first failure ...
    failed = await wait_for_async(
        _pod_where(apiserver, lambda pod: "terminated" in _fetch_state(pod)),
        timeout=START_S,
        what="the fetch failed",
    )
    assert _fetch_status(failed)["state"]["terminated"]["reason"] == "Error"
    assert _fetch_status(failed)["state"]["terminated"]["exitCode"] != 0
    # ... then Init:CrashLoopBackOff once it failed again.
    looping = await wait_for_async(
        _pod_where(
            apiserver,
            lambda pod: _fetch_state(pod).get("waiting", {}).get("reason") == "CrashLoopBackOff",
        ),
        timeout=START_S,
        what="Init:CrashLoopBackOff",
    )
    fetch = _fetch_status(looping)
    assert fetch["restartCount"] >= 2
    assert fetch["lastState"]["terminated"]["exitCode"] != 0
    assert _condition(looping, "Initialized") == "False"
    assert _condition(looping, "Ready") == "False"
    server = looping["status"]["containerStatuses"][0]
    assert server["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert targets.targets == []  # no server process was started to scrape
    events = apiserver.list("v1/events", NS)
    assert any(
        e["reason"] == "BackOff"
        and e["involvedObject"]["name"] == looping["metadata"]["name"]
        and "fetch-model" in e["message"]
        for e in events
    )
    deployment = apiserver.get("apps/v1/deployments", NAME, NS)
    assert (deployment.get("status") or {}).get("readyReplicas", 0) == 0


async def test_the_operator_reports_a_fetched_model_ready_and_a_missing_archive_as_crash_looping(
    fleet: LocalFleet, archive_server: str
) -> None:
    """The whole local fleet: what ``kubectl get modeldeployment`` shows for each."""
    assert fleet.kube is not None
    kube = fleet.kube
    ready_md = load_manifest(
        EXAMPLE_MANIFEST, {"model": {"repository": f"{archive_server}/repository.tar.gz"}}
    )
    missing_md = load_manifest(
        EXAMPLE_MANIFEST, {"model": {"repository": f"{archive_server}/missing.tar.gz"}}
    )
    missing_md.body["metadata"]["name"] = "missing-archive"
    for manifest in (ready_md, missing_md):
        await apply_manifest(kube, manifest)

    def ready(name: str, status: str) -> Callable[[], Any]:
        async def probe() -> dict[str, Any] | None:
            md = await kube.get(MODELDEPLOYMENTS, NS, name) or {}
            for condition in (md.get("status") or {}).get("conditions") or []:
                if condition["type"] == "Ready" and condition["status"] == status:
                    return dict(condition)
            return None

        return probe

    await wait_for_async(ready(ready_md.name, "True"), timeout=START_S, what="Ready=True")
    failing = await wait_for_async(
        ready(missing_md.name, "False"), timeout=START_S, what="the missing archive Ready=False"
    )
    assert failing["reason"] == "PodsCrashLooping"
    assert "fetch-model" in failing["message"]
