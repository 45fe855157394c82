"""The official async client (kubernetes_asyncio) against the emulator, and Events."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client, config, watch

from gpufleet_devtools.apiserver import EmulatedApiServer
from tests.emulator.conftest import widget


@pytest.fixture
async def api_client(server: EmulatedApiServer) -> Any:
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(server.kubeconfig_path), client_configuration=configuration
    )
    async with client.ApiClient(configuration) as api_client:
        yield api_client


async def test_kubernetes_asyncio_crud_and_watch(api_client: Any) -> None:
    core = client.CoreV1Api(api_client)
    namespaces = await core.list_namespace()
    assert "default" in {ns.metadata.name for ns in namespaces.items}

    custom = client.CustomObjectsApi(api_client)
    await custom.create_namespaced_custom_object(
        "example.com", "v1", "default", "widgets", widget("via-client")
    )
    listing = await custom.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
    assert [item["metadata"]["name"] for item in listing["items"]] == ["via-client"]

    async def delete_later() -> None:
        await custom.delete_namespaced_custom_object(
            "example.com", "v1", "default", "widgets", "via-client"
        )

    seen: list[tuple[str, str]] = []
    stream = watch.Watch()
    deleting: asyncio.Task[None] | None = None
    async with asyncio.timeout(10):
        async for event in stream.stream(
            custom.list_namespaced_custom_object, "example.com", "v1", "default", "widgets"
        ):
            seen.append((event["type"], event["object"]["metadata"]["name"]))
            if deleting is None:
                deleting = asyncio.create_task(delete_later())
            if event["type"] == "DELETED":
                break
    stream.stop()
    assert seen == [("ADDED", "via-client"), ("DELETED", "via-client")]

    with pytest.raises(client.ApiException) as error:
        await custom.get_namespaced_custom_object(
            "example.com", "v1", "default", "widgets", "via-client"
        )
    assert error.value.status == 404


async def test_core_and_events_k8s_io_events_are_listable(api: aiohttp.ClientSession) -> None:
    core_event = {
        "metadata": {"generateName": "w."},
        "involvedObject": {"kind": "Widget", "name": "w", "namespace": "default"},
        "reason": "Seen",
        "message": "hello",
        "type": "Normal",
    }
    async with api.post("/api/v1/namespaces/default/events", json=core_event) as response:
        assert response.status == 201
    new_event = {
        "metadata": {"name": "w.1"},
        "reason": "Seen",
        "note": "hi",
        "action": "Observe",
        "type": "Normal",
        "regarding": {"kind": "Widget", "name": "w"},
        "eventTime": None,
    }
    async with api.post(
        "/apis/events.k8s.io/v1/namespaces/default/events", json=new_event
    ) as response:
        assert response.status == 201
    async with api.get("/api/v1/events") as response:
        core_events = (await response.json())["items"]
    assert [(e["reason"], e["message"]) for e in core_events] == [("Seen", "hello")]
    async with api.get("/apis/events.k8s.io/v1/namespaces/default/events") as response:
        assert [e["note"] for e in (await response.json())["items"]] == ["hi"]
