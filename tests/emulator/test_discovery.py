"""Discovery documents, and CRDs registering their resources when created."""

from __future__ import annotations

from typing import Any

import aiohttp
import yaml

from tests.emulator.conftest import WIDGETS_CRD


async def _get(api: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with api.get(url) as response:
        return response.status, await response.json()


async def test_core_and_group_discovery(api: aiohttp.ClientSession) -> None:
    assert (await _get(api, "/api"))[1]["versions"] == ["v1"]
    _, version = await _get(api, "/version")
    assert version["major"] == "1"
    _, groups = await _get(api, "/apis")
    names = {group["name"] for group in groups["groups"]}
    assert {
        "apps",
        "policy",
        "coordination.k8s.io",
        "events.k8s.io",
        "apiextensions.k8s.io",
        "example.com",
    } <= names
    _, core = await _get(api, "/api/v1")
    by_name = {resource["name"]: resource for resource in core["resources"]}
    assert {"namespaces", "pods", "services", "events", "configmaps"} <= set(by_name)
    assert by_name["namespaces"]["namespaced"] is False
    assert by_name["pods"]["namespaced"] is True
    assert "watch" in by_name["pods"]["verbs"]
    assert "pods/status" in by_name
    assert "configmaps/status" not in by_name


async def test_crd_resources_listed_with_names_and_status_subresource(
    api: aiohttp.ClientSession,
) -> None:
    _, group = await _get(api, "/apis/example.com")
    assert group["preferredVersion"]["version"] == "v1"
    _, resources = await _get(api, "/apis/example.com/v1")
    by_name = {resource["name"]: resource for resource in resources["resources"]}
    widgets = by_name["widgets"]
    assert widgets["kind"] == "Widget"
    assert widgets["singularName"] == "widget"
    assert widgets["shortNames"] == ["wd"]
    assert widgets["categories"] == ["examples"]
    assert "widgets/status" in by_name


async def test_unknown_group_and_resource_are_404(api: aiohttp.ClientSession) -> None:
    assert (await _get(api, "/apis/nope.example.com/v1"))[0] == 404
    status, body = await _get(api, "/apis/example.com/v1/namespaces/default/gadgets")
    assert status == 404
    assert body["kind"] == "Status"


async def test_crd_created_via_api_is_served_at_once(api: aiohttp.ClientSession) -> None:
    crd = yaml.safe_load(WIDGETS_CRD.read_text())
    crd["metadata"]["name"] = "gadgets.example.org"
    crd["spec"]["group"] = "example.org"
    crd["spec"]["names"].update(
        kind="Gadget", listKind="GadgetList", plural="gadgets", singular="gadget", shortNames=["gd"]
    )
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    async with api.post(crds, json=crd) as response:
        created = await response.json()
    assert response.status == 201
    conditions = {c["type"]: c["status"] for c in created["status"]["conditions"]}
    assert conditions["Established"] == "True"
    _, resources = await _get(api, "/apis/example.org/v1")
    assert "gadgets" in {resource["name"] for resource in resources["resources"]}
    gadgets = "/apis/example.org/v1/namespaces/default/gadgets"
    async with api.post(
        gadgets, json={"metadata": {"name": "g"}, "spec": {"color": "blue"}}
    ) as response:
        assert response.status == 201
    async with api.delete(f"{crds}/gadgets.example.org") as response:
        assert response.status == 200
    assert (await _get(api, gadgets))[0] == 404
