"""Status writes: a recent copy saves the read; a stale one never loses another writer's update.

Against the API emulator, through the operator's own Kubernetes facade.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from gpufleet.k8s.client import KubernetesApi
from gpufleet.services.status import MODELDEPLOYMENTS, StatusChange, update_status
from gpufleet_devtools.apiserver.server import EmulatedApiServer
from tests.operator.specs import minimal_spec
from tests.support.kube import modeldeployment

NS, NAME = "default", "bert"
MD_KIND = "gpufleet.io/v1alpha1/modeldeployments"
MD_PATH = f"/apis/gpufleet.io/v1alpha1/namespaces/{NS}/modeldeployments/{NAME}"


def _set(**fields: Any) -> Any:
    def compute(current: Mapping[str, Any]) -> StatusChange | None:
        return StatusChange(dict(fields))

    return compute


def _reads(server: EmulatedApiServer) -> int:
    return sum(1 for r in server.handler if r.method == "GET" and r.url.path == MD_PATH)


@pytest.fixture
async def api(apiserver: EmulatedApiServer) -> AsyncIterator[KubernetesApi]:
    """The operator's facade on the emulator, with the ModelDeployment to write to."""
    apiserver.create(MD_KIND, modeldeployment(NAME, minimal_spec()), namespace=NS)
    client = await KubernetesApi.connect(apiserver.kubeconfig_path)
    yield client
    await client.close()


async def _copy(api: KubernetesApi) -> dict[str, Any]:
    copy = await api.get(MODELDEPLOYMENTS, NS, NAME)
    assert copy is not None
    return copy


async def test_a_recent_copy_is_written_on_without_a_read(
    apiserver: EmulatedApiServer, api: KubernetesApi
) -> None:
    copy = await _copy(api)
    before = _reads(apiserver)
    write = await update_status(api, NS, NAME, _set(queueDepth=3.0), known=copy)
    assert write.written
    assert _reads(apiserver) == before
    assert apiserver.get(MD_KIND, NAME, NS)["status"]["queueDepth"] == 3.0


async def test_a_stale_copy_loses_no_update_of_another_writer(
    apiserver: EmulatedApiServer, api: KubernetesApi
) -> None:
    copy = await _copy(api)
    apiserver.patch_status(MD_KIND, NAME, {"requestRate": 5.0}, NS)  # another writer
    write = await update_status(api, NS, NAME, _set(queueDepth=3.0), known=copy)
    assert write.written
    status = apiserver.get(MD_KIND, NAME, NS)["status"]
    assert (status["requestRate"], status["queueDepth"]) == (5.0, 3.0)


async def test_a_copy_that_asks_for_no_write_is_checked_against_the_live_object(
    apiserver: EmulatedApiServer, api: KubernetesApi
) -> None:
    apiserver.patch_status(MD_KIND, NAME, {"queueDepth": 3.0}, NS)
    copy = await _copy(api)
    apiserver.patch_status(MD_KIND, NAME, {"queueDepth": 7.0}, NS)  # after the copy
    # The copy already shows 3: it asks for nothing, yet the live object says 7.
    write = await update_status(api, NS, NAME, _set(queueDepth=3.0), known=copy)
    assert write.written
    assert apiserver.get(MD_KIND, NAME, NS)["status"]["queueDepth"] == 3.0


async def test_a_copy_of_a_deleted_object_writes_nothing_and_raises_nothing(
    apiserver: EmulatedApiServer, api: KubernetesApi
) -> None:
    copy = await _copy(api)  # what a watch index still holds...
    apiserver.delete(MD_KIND, NAME, NS)  # ...after the object went away
    write = await update_status(api, NS, NAME, _set(queueDepth=3.0), known=copy)
    assert not write.written


async def test_a_write_that_changes_nothing_under_merge_patch_rules_is_not_sent(
    apiserver: EmulatedApiServer, api: KubernetesApi
) -> None:
    apiserver.patch_status(MD_KIND, NAME, {"decision": {"rule": "load"}}, NS)
    before = apiserver.get(MD_KIND, NAME, NS)["metadata"]["resourceVersion"]
    # None removes a key in a merge patch: an absent key set to None is no change.
    same = _set(decision={"rule": "load", "limitedBy": None})
    assert not (await update_status(api, NS, NAME, same)).written
    assert apiserver.get(MD_KIND, NAME, NS)["metadata"]["resourceVersion"] == before
    # A nested key that does change is written, and None removes what was there.
    changed = _set(decision={"rule": None, "limitedBy": "cluster"})
    assert (await update_status(api, NS, NAME, changed)).written
    assert apiserver.get(MD_KIND, NAME, NS)["status"]["decision"] == {"limitedBy": "cluster"}
