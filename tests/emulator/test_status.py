"""The status subresource and metadata.generation."""

from __future__ import annotations

import aiohttp

from tests.emulator.conftest import WIDGETS, widget

MERGE = {"Content-Type": "application/merge-patch+json"}


async def test_status_is_ignored_on_create_and_on_main_resource_writes(
    api: aiohttp.ClientSession,
) -> None:
    body = {**widget("s"), "status": {"phase": "Faked"}}
    async with api.post(WIDGETS, json=body) as response:
        assert "status" not in await response.json()
    async with api.patch(
        f"{WIDGETS}/s", json={"status": {"phase": "Faked"}}, headers=MERGE
    ) as response:
        assert "status" not in await response.json()


async def test_status_writes_change_only_status_and_keep_generation(
    api: aiohttp.ClientSession,
) -> None:
    await api.post(WIDGETS, json=widget("st"))
    patch = {"status": {"phase": "Ready"}, "spec": {"size": 9}}
    async with api.patch(f"{WIDGETS}/st/status", json=patch, headers=MERGE) as response:
        patched = await response.json()
    assert patched["status"] == {"phase": "Ready"}
    assert patched["spec"]["size"] == 3  # the default; the spec change was ignored
    assert patched["metadata"]["generation"] == 1
    async with api.get(f"{WIDGETS}/st") as response:
        current = await response.json()
    current["status"] = {"phase": "Replaced"}
    async with api.put(f"{WIDGETS}/st/status", json=current) as response:
        assert (await response.json())["status"] == {"phase": "Replaced"}


async def test_generation_counts_spec_changes_only(api: aiohttp.ClientSession) -> None:
    await api.post(WIDGETS, json=widget("g"))
    async with api.patch(
        f"{WIDGETS}/g", json={"metadata": {"labels": {"a": "b"}}}, headers=MERGE
    ) as response:
        assert (await response.json())["metadata"]["generation"] == 1
    async with api.patch(f"{WIDGETS}/g", json={"spec": {"size": 4}}, headers=MERGE) as response:
        assert (await response.json())["metadata"]["generation"] == 2


async def test_builtin_deployments_have_a_status_subresource(api: aiohttp.ClientSession) -> None:
    url = "/apis/apps/v1/namespaces/default/deployments"
    await api.post(url, json={"metadata": {"name": "d"}, "spec": {"replicas": 1}})
    async with api.patch(
        f"{url}/d/status", json={"status": {"readyReplicas": 1}}, headers=MERGE
    ) as response:
        assert (await response.json())["status"] == {"readyReplicas": 1}
    async with api.patch(f"{url}/d", json={"spec": {"replicas": 2}}, headers=MERGE) as response:
        updated = await response.json()
    assert updated["metadata"]["generation"] == 2
    assert updated["status"] == {"readyReplicas": 1}


async def test_status_of_a_kind_without_the_subresource_is_404(
    api: aiohttp.ClientSession,
) -> None:
    await api.post("/api/v1/namespaces/default/configmaps", json={"metadata": {"name": "cm"}})
    async with api.get("/api/v1/namespaces/default/configmaps/cm/status") as response:
        assert response.status == 404
