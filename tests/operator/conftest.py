from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gpufleet_devtools.apiserver.server import EmulatedApiServer
from tests.support.kube import Kube

CRD_FILE = Path(__file__).resolve().parents[2] / "crds" / "modeldeployments.gpufleet.io.yaml"


@pytest.fixture
def apiserver() -> Iterator[EmulatedApiServer]:
    with EmulatedApiServer(crds=[CRD_FILE]) as server:
        yield server


@pytest.fixture
def kube(apiserver: EmulatedApiServer) -> Kube:
    return Kube(apiserver.url)


@pytest.fixture
def kubeconfig(apiserver: EmulatedApiServer) -> str:
    return str(apiserver.kubeconfig_path)
