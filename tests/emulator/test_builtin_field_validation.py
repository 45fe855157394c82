"""``fieldValidation`` on built-in kinds: the children the operator creates.

A real API server decodes a Deployment, Service, PodDisruptionBudget or NetworkPolicy
into its Go type, so a field the type lacks is a 400 naming it under Strict, a
``Warning`` under Warn (the default) and never stored -- a misspelt field in a chart or
in the operator's own rendering must not pass here and fail on a cluster. Maps (labels,
resource limits) take any key, as there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from gpufleet.domain.manifests.children import CHILD_KINDS, OPTIONAL_CHILD_KINDS
from gpufleet.domain.manifests.identity import Owner
from gpufleet.services.reconcile import build_context
from gpufleet.services.reconcile import validate as validate_spec
from gpufleet.settings import OperatorSettings

MERGE = {"Content-Type": "application/merge-patch+json"}
LABELS = {"app.kubernetes.io/name": "bert", "gpufleet.io/modeldeployment": "bert"}

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "bert", "labels": LABELS},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": LABELS},
        "template": {
            "metadata": {"labels": LABELS},
            "spec": {
                "containers": [
                    {
                        "name": "server",
                        "image": "ghcr.io/gpufleet/gpufleet-server:0.1.0",
                        "resources": {"limits": {"nvidia.com/gpu": 1}},
                        "gpuCount": 1,
                    }
                ]
            },
        },
    },
}
SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "bert"},
    "spec": {"selector": LABELS, "ports": [{"name": "http", "port": 8000, "target": 8000}]},
}
PDB: dict[str, Any] = {
    "apiVersion": "policy/v1",
    "kind": "PodDisruptionBudget",
    "metadata": {"name": "bert"},
    "spec": {"maxUnavailable": 1, "selector": {"matchLabels": LABELS}, "minReady": 1},
}
NETWORK_POLICY: dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "bert", "labelz": {"a": "b"}},
    "spec": {
        "podSelector": {"matchLabels": LABELS},
        "ingress": [{"from": [{"namespaceSelector": {}}]}],
    },
}
CASES = [
    pytest.param(
        "/apis/apps/v1/namespaces/default/deployments",
        DEPLOYMENT,
        "spec.template.spec.containers[0].gpuCount",
        id="Deployment",
    ),
    pytest.param(
        "/api/v1/namespaces/default/services", SERVICE, "spec.ports[0].target", id="Service"
    ),
    pytest.param(
        "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
        PDB,
        "spec.minReady",
        id="PodDisruptionBudget",
    ),
    pytest.param(
        "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies",
        NETWORK_POLICY,
        "metadata.labelz",
        id="NetworkPolicy",
    ),
]


def _at(obj: Any, path: str) -> Any:
    """The value at ``spec.a[0].b`` in ``obj``; KeyError when it is not there."""
    for part in path.replace("[", ".").replace("]", "").split("."):
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


@pytest.mark.parametrize(("collection", "body", "unknown"), CASES)
async def test_strict_create_is_a_400_naming_the_unknown_field_and_stores_nothing(
    api: aiohttp.ClientSession, collection: str, body: dict[str, Any], unknown: str
) -> None:
    params = {"fieldValidation": "Strict"}
    async with api.post(collection, params=params, json=body) as response:
        assert response.status == 400
        status = await response.json()
    kind = body["kind"]
    version = body["apiVersion"].rpartition("/")[2]
    assert status["reason"] == "BadRequest"
    assert status["message"] == (
        f'{kind} in version "{version}" cannot be handled as a {kind}: '
        f'strict decoding error: unknown field "{unknown}"'
    )
    async with api.get(f"{collection}/bert") as response:
        assert response.status == 404


@pytest.mark.parametrize("directive", [None, "Warn", "Ignore"])
@pytest.mark.parametrize(("collection", "body", "unknown"), CASES)
async def test_warn_and_ignore_store_the_object_without_the_unknown_field(
    api: aiohttp.ClientSession,
    collection: str,
    body: dict[str, Any],
    unknown: str,
    directive: str | None,
) -> None:
    params = {"fieldValidation": directive} if directive else {}
    async with api.post(collection, params=params, json=body) as response:
        assert response.status == 201
        warned = response.headers.getall("Warning", [])
    expected = [] if directive == "Ignore" else [f'299 - "unknown field \\"{unknown}\\""']
    assert warned == expected
    async with api.get(f"{collection}/bert") as response:
        stored = await response.json()
    with pytest.raises(KeyError):
        _at(stored, unknown)
    parent, _, _ = unknown.rpartition(".")
    assert _at(stored, parent)  # only the unknown field went, not what holds it


async def test_maps_take_any_key_and_known_fields_pass_strict(
    api: aiohttp.ClientSession,
) -> None:
    container = DEPLOYMENT["spec"]["template"]["spec"]["containers"][0]
    known = {k: v for k, v in container.items() if k != "gpuCount"}
    body = {**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"]}}
    body["spec"]["template"] = {**body["spec"]["template"], "spec": {"containers": [known]}}
    collection = "/apis/apps/v1/namespaces/default/deployments"
    async with api.post(collection, params={"fieldValidation": "Strict"}, json=body) as response:
        assert response.status == 201, await response.text()
        created = await response.json()
    limits = created["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits == {"nvidia.com/gpu": 1}
    assert created["metadata"]["labels"] == LABELS


async def test_a_strict_patch_adding_an_unknown_field_is_rejected_and_changes_nothing(
    api: aiohttp.ClientSession,
) -> None:
    collection = "/api/v1/namespaces/default/services"
    valid = {**SERVICE, "spec": {"selector": LABELS, "ports": [{"name": "http", "port": 8000}]}}
    async with api.post(collection, json=valid) as response:
        assert response.status == 201
        before = await response.json()
    params = {"fieldValidation": "Strict", "fieldManager": "test"}
    patch = {"spec": {"sessionAffinityTimeout": 30}}
    async with api.patch(
        f"{collection}/bert", params=params, json=patch, headers=MERGE
    ) as response:
        assert response.status == 400
        assert 'unknown field "spec.sessionAffinityTimeout"' in (await response.json())["message"]
    async with api.get(f"{collection}/bert") as response:
        after = await response.json()
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


EXAMPLES = sorted((Path(__file__).parents[2] / "examples").rglob("*.yaml"))
NETWORK_POLICY_SPEC = {
    "networkPolicy": {"clients": [{"namespaceSelector": {"matchLabels": {"team": "search"}}}]}
}


def _example_specs() -> list[Any]:
    """Every example ModelDeployment, and the first one with a NetworkPolicy too."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    for path in EXAMPLES:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "ModelDeployment":
                found.append(
                    (f"{path.stem}:{doc['metadata']['name']}", doc["metadata"]["name"], doc["spec"])
                )
    _, name, spec = found[0]
    found.append((f"{name}+networkPolicy", name, {**spec, **NETWORK_POLICY_SPEC}))
    return [pytest.param(name, spec, id=case) for case, name, spec in found]


@pytest.mark.parametrize(("name", "spec"), _example_specs())
async def test_the_operators_children_pass_strict_field_validation(
    api: aiohttp.ClientSession, name: str, spec: dict[str, Any]
) -> None:
    """What the operator would create for each example, created as kubectl would (Strict):
    a field its builders misspell is a 400 here as on a cluster."""
    settings = OperatorSettings.from_env({})
    valid, price = validate_spec(spec, settings.gpu_prices, name=name)
    context = build_context(settings, valid, price)
    owner = Owner(name=name, namespace="default", uid="00000000-0000-0000-0000-000000000001")
    for kind in (*CHILD_KINDS, *OPTIONAL_CHILD_KINDS):
        if not kind.wanted(valid):
            continue
        child = kind.build(owner, valid, context)
        base = "/api" if not kind.group else f"/apis/{kind.group}"
        collection = f"{base}/{kind.version}/namespaces/default/{kind.plural}"
        params = {"fieldValidation": "Strict"}
        async with api.post(collection, params=params, json=child) as response:
            assert response.status == 201, (kind.kind, await response.text())
