"""A minimal kopf operator (defined here) running against the emulator via KopfRunner."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import kopf
import pytest
from kopf.testing import KopfRunner

from gpufleet_devtools.apiserver import ApiError, EmulatedApiServer
from tests.emulator.conftest import WIDGETS_CRD, widget
from tests.support.waiting import wait_for

WIDGETS = "example.com/v1/widgets"
FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"


def build_operator(server: EmulatedApiServer, calls: list[tuple[str, str]]) -> Any:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=server.url, insecure=True)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.watching.server_timeout = 10  # reconnecting watches are part of the test
        settings.posting.level = logging.INFO

    @kopf.on.create("example.com", "v1", "widgets", id="created", registry=registry)
    def created(name: str, patch: kopf.Patch, body: kopf.Body, **_: Any) -> dict[str, str]:
        calls.append(("create", name))
        patch.metadata.setdefault("labels", {})["seen"] = "yes"
        kopf.info(body, reason="Seen", message=f"widget {name} seen")
        return {"handled": "yes"}

    @kopf.on.delete("example.com", "v1", "widgets", id="deleted", registry=registry)
    def deleted(name: str, **_: Any) -> None:
        calls.append(("delete", name))

    return registry


def _labels(server: EmulatedApiServer, name: str) -> dict[str, str]:
    labels: dict[str, str] = server.get(WIDGETS, name, "default")["metadata"].get("labels", {})
    return labels


def _gone(server: EmulatedApiServer, name: str) -> bool:
    try:
        server.get(WIDGETS, name, "default")
    except ApiError as error:
        return error.code == 404
    return False


@pytest.fixture(autouse=True)
def _restore_kopf_default_registry() -> Iterator[None]:
    """`kopf run` with a registry makes it kopf's default; later tests must not inherit it."""
    default = kopf.get_default_registry()
    yield
    kopf.set_default_registry(default)


@pytest.mark.slow
def test_kopf_operator_handles_create_restart_and_delete() -> None:
    calls: list[tuple[str, str]] = []
    args = ["run", "--standalone", "--all-namespaces", "--verbose"]
    with EmulatedApiServer(crds=[WIDGETS_CRD]) as server:
        registry = build_operator(server, calls)
        with KopfRunner(args, registry=registry, timeout=60) as first_run:
            server.create(WIDGETS, widget("w1"), "default")
            wait_for(lambda: _labels(server, "w1").get("seen") == "yes")
            wait_for(
                lambda: (
                    "handled"
                    in server.get(WIDGETS, "w1", "default").get("status", {}).get("created", {})
                )
            )
            w1 = server.get(WIDGETS, "w1", "default")
            assert FINALIZER in w1["metadata"]["finalizers"]
            events = [
                e
                for e in server.list("v1/events", "default")
                if e["involvedObject"]["name"] == "w1"
            ]
            assert any(e["reason"] == "Seen" for e in events)

        assert first_run.exception is None
        assert first_run.exit_code == 0

        # A restarted operator must not handle w1 again, but keeps handling new objects.
        with KopfRunner(args, registry=registry, timeout=60) as second_run:
            server.create(WIDGETS, widget("w2"), "default")
            wait_for(lambda: _labels(server, "w2").get("seen") == "yes")
            server.delete(WIDGETS, "w1", "default")
            wait_for(lambda: _gone(server, "w1"))

        assert second_run.exception is None
        assert second_run.exit_code == 0
    assert sorted(calls) == [("create", "w1"), ("create", "w2"), ("delete", "w1")]
