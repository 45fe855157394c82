"""The Python API for tests: in-process accessors and kmock reactions for fault injection."""

from __future__ import annotations

import aiohttp
import pytest

from gpufleet_devtools.apiserver import ApiError, EmulatedApiServer
from tests.emulator.conftest import WIDGETS, widget


async def test_accessors_share_state_with_http(
    server: EmulatedApiServer, api: aiohttp.ClientSession
) -> None:
    server.create("example.com/v1/widgets", widget("seeded"), namespace="default")
    server.patch_status("example.com/v1/widgets", "seeded", {"phase": "Ready"}, "default")
    async with api.get(f"{WIDGETS}/seeded") as response:
        seen = await response.json()
    assert seen["status"] == {"phase": "Ready"}
    assert seen["spec"]["size"] == 3  # seeding goes through admission (defaults) too
    assert [o["metadata"]["name"] for o in server.list("example.com/v1/widgets")] == ["seeded"]
    server.delete("example.com/v1/widgets", "seeded", "default")
    with pytest.raises(ApiError) as error:
        server.get("example.com/v1/widgets", "seeded", "default")
    assert error.value.code == 404


async def test_invalid_seed_is_rejected_like_over_http(server: EmulatedApiServer) -> None:
    with pytest.raises(ApiError) as error:
        server.create("example.com/v1/widgets", widget("bad", size=100), namespace="default")
    assert error.value.code == 422
    assert "spec.size" in error.value.message


async def test_kmock_reactions_override_the_emulated_api(
    server: EmulatedApiServer, api: aiohttp.ClientSession
) -> None:
    server.create("v1/configmaps", {"metadata": {"name": "flaky"}}, namespace="default")
    server.handler["get /api/v1/namespaces/default/configmaps/flaky"] << 503
    async with api.get("/api/v1/namespaces/default/configmaps/flaky") as response:
        assert response.status == 503
    async with api.get("/api/v1/namespaces/default/configmaps") as response:
        assert response.status == 200  # other requests are still emulated
