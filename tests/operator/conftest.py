from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gpufleet.k8s.permissions import WatchScope
from gpufleet_devtools.apiserver.server import EmulatedApiServer
from gpufleet_devtools.prometheus import PrometheusServer
from tests.operator.rbac import assert_granted
from tests.support.kube import Kube

CRD_FILE = Path(__file__).resolve().parents[2] / "crds" / "modeldeployments.gpufleet.io.yaml"


@pytest.fixture
def apiserver() -> Iterator[EmulatedApiServer]:
    with EmulatedApiServer(crds=[CRD_FILE]) as server:
        yield server
        # Whatever a test made the operator do (it runs cluster-wide in these tests),
        # the chart's RBAC must allow.
        assert_granted(server, WatchScope.CLUSTER)


@pytest.fixture
def kube(apiserver: EmulatedApiServer) -> Kube:
    return Kube(apiserver.url)


@pytest.fixture
def kubeconfig(apiserver: EmulatedApiServer) -> str:
    return str(apiserver.kubeconfig_path)


@pytest.fixture
def prometheus() -> Iterator[PrometheusServer]:
    """A real Prometheus that scrapes nothing: every model's metrics are unknown."""
    with PrometheusServer(scrape_interval_s=1.0) as server:
        yield server
