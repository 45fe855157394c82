"""Finalizers, deletionTimestamp, and ownerReference garbage collection."""

from __future__ import annotations

import aiohttp

from tests.emulator.conftest import WIDGETS, widget
from tests.support.waiting import wait_for_async

MERGE = {"Content-Type": "application/merge-patch+json"}
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


async def _status(api: aiohttp.ClientSession, url: str) -> int:
    async with api.get(url) as response:
        return response.status


async def test_finalizers_hold_deletion_until_removed(api: aiohttp.ClientSession) -> None:
    body = widget("held")
    body["metadata"]["finalizers"] = ["example.com/cleanup"]  # type: ignore[index]
    await api.post(WIDGETS, json=body)
    async with api.delete(f"{WIDGETS}/held") as response:
        marked = await response.json()
    stamp = marked["metadata"]["deletionTimestamp"]
    assert stamp
    async with api.get(f"{WIDGETS}/held") as response:
        assert (await response.json())["metadata"]["deletionTimestamp"] == stamp
    # A second DELETE keeps the original mark.
    async with api.delete(f"{WIDGETS}/held") as response:
        assert (await response.json())["metadata"]["deletionTimestamp"] == stamp
    # No new finalizers on an object being deleted.
    async with api.patch(
        f"{WIDGETS}/held",
        headers=MERGE,
        json={"metadata": {"finalizers": ["example.com/cleanup", "x/y"]}},
    ) as r:
        assert r.status == 422
    async with api.patch(
        f"{WIDGETS}/held", json={"metadata": {"finalizers": None}}, headers=MERGE
    ) as response:
        assert response.status == 200
    assert await _status(api, f"{WIDGETS}/held") == 404


async def test_owner_deletion_collects_dependents(api: aiohttp.ClientSession) -> None:
    async with api.post(WIDGETS, json=widget("owner")) as response:
        owner = await response.json()
    reference = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "name": "owner",
        "uid": owner["metadata"]["uid"],
        "controller": True,
    }
    for name in ("child-1", "child-2"):
        await api.post(
            CONFIGMAPS, json={"metadata": {"name": name, "ownerReferences": [reference]}}
        )
    await api.post(CONFIGMAPS, json={"metadata": {"name": "unrelated"}})
    await api.delete(f"{WIDGETS}/owner")

    async def children_gone() -> bool:
        return all(
            [await _status(api, f"{CONFIGMAPS}/{name}") == 404 for name in ("child-1", "child-2")]
        )

    await wait_for_async(children_gone)
    assert await _status(api, f"{CONFIGMAPS}/unrelated") == 200


async def test_dependent_with_a_remaining_owner_survives(api: aiohttp.ClientSession) -> None:
    owners = []
    for name in ("first", "second", "marker"):
        async with api.post(WIDGETS, json=widget(name)) as response:
            owners.append((await response.json())["metadata"])
    first, second, marker = (
        {"apiVersion": "example.com/v1", "kind": "Widget", "name": m["name"], "uid": m["uid"]}
        for m in owners
    )
    await api.post(
        CONFIGMAPS, json={"metadata": {"name": "shared", "ownerReferences": [first, second]}}
    )
    await api.post(CONFIGMAPS, json={"metadata": {"name": "probe", "ownerReferences": [marker]}})
    await api.delete(f"{WIDGETS}/first")
    # The collector works in deletion order: once the marker's dependent is collected, it
    # has also judged the shared one after "first" went.
    await api.delete(f"{WIDGETS}/marker")

    async def probe_gone() -> bool:
        return await _status(api, f"{CONFIGMAPS}/probe") == 404

    await wait_for_async(probe_gone)
    async with api.get(f"{CONFIGMAPS}/shared") as response:
        assert response.status == 200  # "second" still owns it
        survivor = await response.json()
    assert second in survivor["metadata"]["ownerReferences"]

    # With its last owner gone, it goes too.
    await api.delete(f"{WIDGETS}/second")

    async def shared_gone() -> bool:
        return await _status(api, f"{CONFIGMAPS}/shared") == 404

    await wait_for_async(shared_gone)


async def test_orphan_propagation_keeps_dependents(api: aiohttp.ClientSession) -> None:
    async with api.post(WIDGETS, json=widget("parent")) as response:
        uid = (await response.json())["metadata"]["uid"]
    reference = {"apiVersion": "example.com/v1", "kind": "Widget", "name": "parent", "uid": uid}
    await api.post(
        CONFIGMAPS, json={"metadata": {"name": "orphan", "ownerReferences": [reference]}}
    )
    async with api.delete(f"{WIDGETS}/parent", json={"propagationPolicy": "Orphan"}) as response:
        assert response.status == 200
    async with api.get(f"{CONFIGMAPS}/orphan") as response:
        orphan = await response.json()
    assert response.status == 200
    assert "ownerReferences" not in orphan["metadata"]


async def test_foreground_propagation_deletes_dependents_first(
    api: aiohttp.ClientSession,
) -> None:
    async with api.post(WIDGETS, json=widget("fg")) as response:
        uid = (await response.json())["metadata"]["uid"]
    reference = {"apiVersion": "example.com/v1", "kind": "Widget", "name": "fg", "uid": uid}
    await api.post(
        CONFIGMAPS, json={"metadata": {"name": "fg-child", "ownerReferences": [reference]}}
    )
    await api.delete(f"{WIDGETS}/fg", params={"propagationPolicy": "Foreground"})
    assert await _status(api, f"{CONFIGMAPS}/fg-child") == 404
    assert await _status(api, f"{WIDGETS}/fg") == 404


async def test_deleting_a_namespace_deletes_its_objects(api: aiohttp.ClientSession) -> None:
    await api.post("/api/v1/namespaces", json={"metadata": {"name": "doomed"}})
    url = "/api/v1/namespaces/doomed/configmaps"
    await api.post(url, json={"metadata": {"name": "inside"}})
    async with api.delete("/api/v1/namespaces/doomed") as response:
        assert response.status == 200

    async def emptied() -> bool:
        return await _status(api, f"{url}/inside") == 404

    await wait_for_async(emptied)
    assert await _status(api, "/api/v1/namespaces/doomed") == 404


async def test_delete_collection_by_label(api: aiohttp.ClientSession) -> None:
    for name, team in (("c1", "a"), ("c2", "a"), ("c3", "b")):
        await api.post(CONFIGMAPS, json={"metadata": {"name": name, "labels": {"team": team}}})
    async with api.delete(CONFIGMAPS, params={"labelSelector": "team=a"}) as response:
        assert response.status == 200
    async with api.get(CONFIGMAPS) as response:
        remaining = [item["metadata"]["name"] for item in (await response.json())["items"]]
    assert remaining == ["c3"]


PODS = "/api/v1/namespaces/default/pods"


def _pod(name: str, node: str | None) -> dict[str, object]:
    spec: dict[str, object] = {"containers": [{"name": "server", "image": "triton"}]}
    if node is not None:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


async def test_a_pod_on_a_node_is_marked_and_stays_until_deleted_without_grace(
    api: aiohttp.ClientSession,
) -> None:
    await api.post(PODS, json=_pod("bound", "gpu-node-1"))
    # The ReplicaSet's DELETE marks it; the pod's own grace (default 30 s) runs.
    async with api.delete(f"{PODS}/bound") as response:
        assert response.status == 200
        marked = await response.json()
    assert marked["metadata"]["deletionTimestamp"]
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30
    # Its kubelet writes status while it stops it: the pod stays.
    async with api.patch(
        f"{PODS}/bound/status", headers=MERGE, json={"status": {"phase": "Running"}}
    ) as response:
        assert response.status == 200
    assert await _status(api, f"{PODS}/bound") == 200
    # A shorter grace is taken; the kubelet's own DELETE, with none, removes it.
    async with api.delete(f"{PODS}/bound", json={"gracePeriodSeconds": 5}) as response:
        assert (await response.json())["metadata"]["deletionGracePeriodSeconds"] == 5
    async with api.delete(f"{PODS}/bound", params={"gracePeriodSeconds": "0"}) as response:
        assert response.status == 200
    assert await _status(api, f"{PODS}/bound") == 404


async def test_a_pod_no_node_runs_is_deleted_at_once(api: aiohttp.ClientSession) -> None:
    await api.post(PODS, json=_pod("pending", None))
    async with api.delete(f"{PODS}/pending"):
        pass
    assert await _status(api, f"{PODS}/pending") == 404


async def test_a_grace_that_is_no_integer_is_refused_naming_it(
    api: aiohttp.ClientSession,
) -> None:
    await api.post(PODS, json=_pod("odd", "gpu-node-1"))
    async with api.delete(f"{PODS}/odd", json={"gracePeriodSeconds": "soon"}) as response:
        assert response.status == 400
        assert "gracePeriodSeconds" in (await response.json())["message"]
    assert await _status(api, f"{PODS}/odd") == 200
