"""Watches: replay after a resourceVersion, live events, selectors, timeouts, 410 Gone."""

from __future__ import annotations

import asyncio

import aiohttp

from gpufleet_devtools.apiserver import EmulatedApiServer
from tests.emulator.conftest import WIDGETS, WIDGETS_CRD, widget
from tests.emulator.watching import Event, collect_events, summary

MERGE = {"Content-Type": "application/merge-patch+json"}


async def test_watch_replays_everything_after_the_list_version(
    api: aiohttp.ClientSession,
) -> None:
    await api.post(WIDGETS, json=widget("before"))
    async with api.get(WIDGETS) as response:
        list_version = (await response.json())["metadata"]["resourceVersion"]
    # Changes between the list and the watch must not be lost.
    await api.post(WIDGETS, json=widget("after"))
    await api.patch(f"{WIDGETS}/before", json={"spec": {"size": 2}}, headers=MERGE)
    await api.delete(f"{WIDGETS}/after")
    events = await collect_events(
        api, WIDGETS, {"resourceVersion": list_version}, until=lambda seen: len(seen) >= 3
    )
    assert summary(events) == [("ADDED", "after"), ("MODIFIED", "before"), ("DELETED", "after")]
    versions = [int(event["object"]["metadata"]["resourceVersion"]) for event in events]
    assert versions == sorted(versions)
    assert versions[0] > int(list_version)


async def test_watch_without_version_starts_with_current_objects_then_streams_live(
    api: aiohttp.ClientSession,
) -> None:
    await api.post(WIDGETS, json=widget("existing"))

    async def create_later() -> None:
        await asyncio.sleep(0.2)  # let the watch start first; the test waits on events
        await api.post(WIDGETS, json=widget("live"))

    creating = asyncio.create_task(create_later())
    events = await collect_events(api, WIDGETS, {}, until=lambda seen: len(seen) >= 2)
    await creating
    assert summary(events) == [("ADDED", "existing"), ("ADDED", "live")]


async def test_cluster_wide_watch_sees_all_namespaces_namespaced_watch_only_its_own(
    api: aiohttp.ClientSession,
) -> None:
    await api.post("/api/v1/namespaces", json={"metadata": {"name": "other"}})
    async with api.get("/apis/example.com/v1/widgets") as response:
        start = (await response.json())["metadata"]["resourceVersion"]
    await api.post(WIDGETS, json=widget("in-default"))
    await api.post("/apis/example.com/v1/namespaces/other/widgets", json=widget("in-other"))
    everywhere = await collect_events(
        api, "/apis/example.com/v1/widgets", {"resourceVersion": start}, until=lambda s: len(s) >= 2
    )
    assert summary(everywhere) == [("ADDED", "in-default"), ("ADDED", "in-other")]
    only_other = await collect_events(
        api,
        "/apis/example.com/v1/namespaces/other/widgets",
        {"resourceVersion": start, "timeoutSeconds": "1"},
        until=lambda s: False,
    )
    assert summary(only_other) == [("ADDED", "in-other")]


async def test_watch_ends_at_timeout_seconds_with_a_bookmark(api: aiohttp.ClientSession) -> None:
    async with api.get(WIDGETS) as response:
        current = (await response.json())["metadata"]["resourceVersion"]
    loop = asyncio.get_running_loop()
    started = loop.time()
    events = await collect_events(
        api,
        WIDGETS,
        {"timeoutSeconds": "1", "allowWatchBookmarks": "true", "resourceVersion": current},
        until=lambda seen: False,
    )
    assert 0.9 <= loop.time() - started < 5
    assert [event["type"] for event in events] == ["BOOKMARK"]
    assert events[0]["object"]["kind"] == "Widget"
    assert events[0]["object"]["metadata"]["resourceVersion"] == current


async def test_label_selector_watch_reports_objects_leaving_the_selection(
    api: aiohttp.ClientSession,
) -> None:
    body = widget("labelled")
    body["metadata"]["labels"] = {"team": "a"}  # type: ignore[index]
    async with api.post(WIDGETS, json=body) as response:
        start = (await response.json())["metadata"]["resourceVersion"]
    await api.patch(
        f"{WIDGETS}/labelled", json={"metadata": {"labels": {"team": "b"}}}, headers=MERGE
    )
    events = await collect_events(
        api,
        WIDGETS,
        {"resourceVersion": start, "labelSelector": "team=a"},
        until=lambda seen: len(seen) >= 1,
    )
    assert summary(events) == [("DELETED", "labelled")]


async def test_single_object_watch_by_field_selector(api: aiohttp.ClientSession) -> None:
    async with api.post(WIDGETS, json=widget("target")) as response:
        start = (await response.json())["metadata"]["resourceVersion"]
    await api.post(WIDGETS, json=widget("noise"))
    await api.delete(f"{WIDGETS}/target")
    events = await collect_events(
        api,
        WIDGETS,
        {"resourceVersion": start, "fieldSelector": "metadata.name=target"},
        until=lambda seen: len(seen) >= 1,
    )
    assert summary(events) == [("DELETED", "target")]


async def test_send_initial_events_ends_with_a_bookmark(api: aiohttp.ClientSession) -> None:
    await api.post(WIDGETS, json=widget("initial"))
    events = await collect_events(
        api,
        WIDGETS,
        {
            "sendInitialEvents": "true",
            "resourceVersionMatch": "NotOlderThan",
            "allowWatchBookmarks": "true",
        },
        until=lambda seen: len(seen) >= 2,
    )
    assert [event["type"] for event in events] == ["ADDED", "BOOKMARK"]
    annotations = events[1]["object"]["metadata"]["annotations"]
    assert annotations["k8s.io/initial-events-end"] == "true"


def test_too_old_resource_version_is_410_gone() -> None:
    with EmulatedApiServer(crds=[WIDGETS_CRD], event_log_limit=10) as server:
        start = server.cluster.store.resource_version
        server.create("example.com/v1/widgets", widget("early"), namespace="default")
        for index in range(30):  # more changes than the log keeps
            server.create("v1/configmaps", {"metadata": {"name": f"cm{index}"}}, "default")
        events = asyncio.run(_watch_from(server.url, start))
    assert events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410
    assert events[0]["object"]["reason"] == "Expired"


async def _watch_from(url: str, resource_version: int) -> list[Event]:
    async with aiohttp.ClientSession(base_url=url) as api:
        return await collect_events(
            api,
            WIDGETS,
            {"resourceVersion": str(resource_version)},
            until=lambda seen: len(seen) >= 1,
        )
