"""``fieldValidation``: unknown fields as the API server treats them, on every write.

Strict (kubectl's default since 1.27) rejects the write with a 400 naming each unknown
field; Warn (the server's default) stores the object without them and says so in a
``Warning`` header; Ignore drops them silently.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from gpufleet_devtools.apiserver import EmulatedApiServer
from tests.emulator.conftest import WIDGETS, widget

MERGE = {"Content-Type": "application/merge-patch+json"}
APPLY = {"Content-Type": "application/apply-patch+yaml"}
WARNINGS = [
    '299 - "unknown field \\"spec.colour\\""',
    '299 - "unknown field \\"spec.nested\\""',
]


def _with_unknown_fields(name: str) -> dict[str, Any]:
    body: dict[str, Any] = widget(name, tags=["a"])
    body["spec"]["colour"] = "red"
    body["spec"]["nested"] = {"x": 1}
    return body


async def _get(api: aiohttp.ClientSession, name: str) -> tuple[int, Any]:
    async with api.get(f"{WIDGETS}/{name}") as response:
        return response.status, await response.json()


async def test_strict_create_is_a_400_naming_every_unknown_field_and_stores_nothing(
    api: aiohttp.ClientSession,
) -> None:
    body = _with_unknown_fields("strict")
    async with api.post(WIDGETS, params={"fieldValidation": "Strict"}, json=body) as response:
        assert response.status == 400
        status = await response.json()
    assert status["reason"] == "BadRequest"
    assert status["message"] == (
        'Widget in version "v1" cannot be handled as a Widget: strict decoding error: '
        'unknown field "spec.colour", unknown field "spec.nested"'
    )
    assert (await _get(api, "strict"))[0] == 404


@pytest.mark.parametrize(
    ("directive", "warned"),
    [
        (None, WARNINGS),
        ("Warn", WARNINGS),
        ("Ignore", []),
    ],
)
async def test_warn_and_ignore_store_the_object_without_the_unknown_fields(
    api: aiohttp.ClientSession, directive: str | None, warned: list[str]
) -> None:
    params = {"fieldValidation": directive} if directive else {}
    async with api.post(WIDGETS, params=params, json=_with_unknown_fields("w")) as response:
        assert response.status == 201
        assert response.headers.getall("Warning", []) == warned
    status, stored = await _get(api, "w")
    assert status == 200
    assert "colour" not in stored["spec"]
    assert "nested" not in stored["spec"]
    assert stored["spec"]["tags"] == ["a"]


GADGETS_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"kind": "Gadget", "plural": "gadgets", "singular": "gadget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "parts": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {"name": {"type": "string"}},
                                        },
                                    }
                                },
                            }
                        },
                    }
                },
            }
        ],
    },
}


async def test_unknown_fields_inside_list_items_are_named_with_their_index() -> None:
    gadget = {
        "apiVersion": "example.com/v1",
        "kind": "Gadget",
        "metadata": {"name": "g"},
        "spec": {"parts": [{"name": "a"}, {"name": "b", "size": 3}]},
    }
    with EmulatedApiServer(crds=[GADGETS_CRD]) as server:
        async with (
            aiohttp.ClientSession(base_url=server.url) as api,
            api.post(
                "/apis/example.com/v1/namespaces/default/gadgets",
                params={"fieldValidation": "Strict"},
                json=gadget,
            ) as response,
        ):
            assert response.status == 400
            message = (await response.json())["message"]
    assert message.endswith('strict decoding error: unknown field "spec.parts[1].size"')


@pytest.mark.parametrize(
    ("method", "path_suffix", "headers", "payload"),
    [
        ("PATCH", "/p", MERGE, {"spec": {"colour": "blue"}}),
        ("PUT", "/p", {}, {**widget("p"), "spec": {"color": "blue", "colour": "blue"}}),
        ("PATCH", "/p", APPLY, {**widget("p"), "spec": {"color": "red", "colour": "blue"}}),
    ],
)
async def test_strict_updates_are_rejected_and_change_nothing(
    api: aiohttp.ClientSession,
    method: str,
    path_suffix: str,
    headers: dict[str, str],
    payload: dict[str, Any],
) -> None:
    async with api.post(WIDGETS, json=widget("p")) as response:
        assert response.status == 201
        before = await response.json()
    params = {"fieldValidation": "Strict", "fieldManager": "test"}
    url = WIDGETS + path_suffix
    async with api.request(method, url, params=params, json=payload, headers=headers) as response:
        assert response.status == 400
        assert 'unknown field "spec.colour"' in (await response.json())["message"]
    _, after = await _get(api, "p")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


async def test_an_unknown_directive_is_a_400(api: aiohttp.ClientSession) -> None:
    async with api.post(WIDGETS, params={"fieldValidation": "Loose"}, json=widget("x")) as response:
        assert response.status == 400
        assert "fieldValidation" in (await response.json())["message"]
