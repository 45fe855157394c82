"""Fixtures: an emulated API server (background thread) and an HTTP client for it."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from gpufleet_devtools.apiserver import EmulatedApiServer

HERE = pathlib.Path(__file__).parent
WIDGETS_CRD = HERE / "crds" / "widgets.example.com.yaml"
WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"


@pytest.fixture
def server() -> Iterator[EmulatedApiServer]:
    with EmulatedApiServer(crds=[WIDGETS_CRD]) as running:
        yield running


@pytest.fixture
async def api(server: EmulatedApiServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=server.url) as session:
        yield session


def widget(name: str, **spec: object) -> dict[str, object]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"color": "red", **spec},
    }
