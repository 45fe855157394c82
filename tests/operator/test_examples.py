"""Every example manifest is valid, as the operator and the API server would judge it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gpufleet.domain.pricing import DEFAULT_GPU_PRICES
from gpufleet.services.reconcile import validate
from tests.support.kube import MODELDEPLOYMENTS, Kube

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_valid(path: Path) -> None:
    docs = [
        d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "ModelDeployment"
    ]
    assert docs, f"{path.name} holds no ModelDeployment"
    for doc in docs:
        spec, price = validate(doc["spec"], DEFAULT_GPU_PRICES, name=doc["metadata"]["name"])
        assert (
            spec.scaling.min_replicas * max(spec.resources.gpus, 1) * price
            <= spec.cost.max_hourly_cost
        )


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_api_server_accepts_example(kube: Kube, path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc.get("kind") == "ModelDeployment":
            namespace = doc["metadata"].get("namespace", "default")
            kube.session.post(  # 409 when it exists already
                f"{kube.url}/api/v1/namespaces", json={"metadata": {"name": namespace}}, timeout=10
            )
            response = kube.create(MODELDEPLOYMENTS, namespace, doc)
            assert response.status_code == 201, f"{path.name}: {response.text}"
