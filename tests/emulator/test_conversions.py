"""What a real API server's conversion does to a written Deployment: the pod spec's
deprecated ``serviceAccount`` mirrors ``serviceAccountName`` and stands in for it."""

from __future__ import annotations

import copy

import aiohttp

from tests.emulator.test_builtin_field_validation import DEPLOYMENT

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
MERGE = {"Content-Type": "application/merge-patch+json"}


def _pod_spec(deployment: dict[str, object]) -> dict[str, object]:
    return deployment["spec"]["template"]["spec"]  # type: ignore[index, return-value]


async def _create(api: aiohttp.ClientSession, **pod: object) -> dict[str, object]:
    body = copy.deepcopy(DEPLOYMENT)
    body["spec"]["template"]["spec"]["containers"][0].pop("gpuCount")
    body["spec"]["template"]["spec"].update(pod)
    async with api.post(DEPLOYMENTS, json=body) as response:
        assert response.status == 201, await response.text()
        return dict(await response.json())


async def _patch_pod(api: aiohttp.ClientSession, pod: dict[str, object]) -> dict[str, object]:
    patch = {"spec": {"template": {"spec": pod}}}
    async with api.patch(f"{DEPLOYMENTS}/bert", json=patch, headers=MERGE) as response:
        assert response.status == 200, await response.text()
        return dict(await response.json())


async def test_service_account_name_is_mirrored_and_the_alias_read_back(
    api: aiohttp.ClientSession,
) -> None:
    created = await _create(api, serviceAccountName="reader")
    assert _pod_spec(created)["serviceAccount"] == "reader"
    # Removing the name alone: the alias still names the account, and it stays.
    kept = await _patch_pod(api, {"serviceAccountName": None})
    assert (_pod_spec(kept)["serviceAccountName"], _pod_spec(kept)["serviceAccount"]) == (
        "reader",
        "reader",
    )
    gone = await _patch_pod(api, {"serviceAccountName": None, "serviceAccount": None})
    assert "serviceAccountName" not in _pod_spec(gone)
    assert "serviceAccount" not in _pod_spec(gone)


async def test_the_alias_alone_names_the_account(api: aiohttp.ClientSession) -> None:
    created = await _create(api, serviceAccount="legacy")
    assert _pod_spec(created)["serviceAccountName"] == "legacy"
