"""A fleet the autoscaler holds at 3 replicas without any model metrics.

The operator runs with autoscaling on, one-second ticks and a real Prometheus that
scrapes nothing: every signal is unknown, and ``onMetricsLoss: Fallback`` raises the
fleet to ``fallbackReplicas`` (3). What the autoscaler writes is then known in advance,
so a test can play another party -- an HPA, a webhook, a person -- against it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from gpufleet_devtools.apiserver.server import EmulatedApiServer
from gpufleet_devtools.prometheus import PrometheusServer
from tests.operator.specs import minimal_spec
from tests.support.kube import DEPLOYMENTS, MODELDEPLOYMENTS, Kube, modeldeployment
from tests.support.operator import running_operator

FALLBACK_REPLICAS = 3
SCALING = {
    "minReplicas": 1,
    "maxReplicas": 4,
    "onMetricsLoss": "Fallback",
    "fallbackReplicas": FALLBACK_REPLICAS,
}


@contextmanager
def fallback_fleet(
    apiserver: EmulatedApiServer, prometheus: PrometheusServer, namespace: str, name: str
) -> Iterator[Kube]:
    """The operator running, and the ModelDeployment ``name`` applied."""
    kube = Kube(apiserver.url)
    env = {
        "GPUFLEET_AUTOSCALING": "1",
        "GPUFLEET_PROMETHEUS_URL": prometheus.url,
        "GPUFLEET_TICK_SECONDS": "1",
    }
    with running_operator(str(apiserver.kubeconfig_path), **env):
        body = modeldeployment(name, minimal_spec(scaling=SCALING), namespace)
        assert kube.create(MODELDEPLOYMENTS, namespace, body).ok
        yield kube


def replicas(kube: Kube, namespace: str, name: str) -> int:
    """The Deployment's ``spec.replicas`` (0 before it exists)."""
    deployment = kube.get(DEPLOYMENTS, namespace, name) or {}
    return int((deployment.get("spec") or {}).get("replicas") or 0)
