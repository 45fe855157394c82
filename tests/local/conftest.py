"""Fixtures for the local fleet: the API emulator in this loop, a demo model repository."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpufleet.k8s.client import KubernetesApi
from gpufleet_devtools.apiserver.server import EmulatedApiServer
from gpufleet_devtools.local.agent import NodeAgent
from gpufleet_devtools.local.demo_model import write_demo_model, write_triton_demo_model
from gpufleet_devtools.local.fleet import FleetOptions, LocalFleet
from gpufleet_devtools.local.manifest import load_manifest
from gpufleet_devtools.local.paths import (
    CRDS_DIR,
    EXAMPLE_MANIFEST,
    TRITON_EXAMPLE_MANIFEST,
    LocalPaths,
)
from gpufleet_devtools.local.state import pid_alive
from gpufleet_devtools.local.targets import RecordingTargets
from gpufleet_devtools.prometheus import PROMETHEUS_BINARY


@pytest.fixture
async def apiserver() -> AsyncIterator[EmulatedApiServer]:
    async with EmulatedApiServer(crds=[CRDS_DIR]) as server:
        yield server


@pytest.fixture(scope="session")
def example() -> dict[str, Any]:
    return dict(yaml.safe_load(EXAMPLE_MANIFEST.read_text()))


@pytest.fixture(scope="session")
def volumes(tmp_path_factory: pytest.TempPathFactory, example: dict[str, Any]) -> Path:
    """``pvc://models/repository`` of the example, with the demo model in it."""
    root = tmp_path_factory.mktemp("volumes")
    write_demo_model(root / "models" / "repository", example["spec"]["model"]["name"])
    return root


@contextlib.asynccontextmanager
async def running_agent(
    apiserver: EmulatedApiServer, volumes: Path, logs: Path
) -> AsyncIterator[tuple[NodeAgent, RecordingTargets]]:
    """A node agent on ``apiserver``, running in this loop until the block ends, and the
    scrape targets it publishes."""
    kube = await KubernetesApi.connect(apiserver.kubeconfig_path)
    targets = RecordingTargets()
    node = NodeAgent(kube, volumes, logs, targets, drain_delay_s=0.5)
    task = asyncio.create_task(node.run())
    try:
        yield node, targets
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await kube.close()


def needs_prometheus() -> None:
    if not Path(PROMETHEUS_BINARY).exists():
        pytest.skip(f"no Prometheus at {PROMETHEUS_BINARY} (make system-deps installs it)")


@pytest.fixture
async def fleet(tmp_path: Path, example: dict[str, Any]) -> AsyncIterator[LocalFleet]:
    """The whole local fleet, with a fast tick; checks that nothing outlives it."""
    needs_prometheus()
    paths = LocalPaths(tmp_path / ".gpufleet").ensure()
    write_demo_model(paths.volumes / "models" / "repository", example["spec"]["model"]["name"])
    triton = load_manifest(TRITON_EXAMPLE_MANIFEST)
    write_triton_demo_model(triton.repository_dir(paths.volumes), triton.spec.model.name)
    options = FleetOptions(tick_seconds=1.0, scrape_interval_s=1.0, rate_window_s=6.0)
    local = LocalFleet(paths, options)
    await local.start()
    seen: dict[str, int] = {}
    try:
        yield local
    finally:
        seen.update(local.pids())
        await local.stop()
    assert [role for role, pid in seen.items() if pid_alive(pid)] == []
    assert not paths.state_file.exists()


def serving(url: str) -> bool:
    """Whether something still listens at ``http://host:port`` (a leftover server)."""
    host, _, port = url.removeprefix("http://").partition(":")
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, int(port))) == 0
