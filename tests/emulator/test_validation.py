"""Admission of custom resources: schema validation, defaults, pruning, CEL rules."""

from __future__ import annotations

import pathlib
from typing import Any

import aiohttp
import pytest

from gpufleet_devtools.apiserver import EmulatedApiServer
from tests.emulator.conftest import WIDGETS, widget

MERGE = {"Content-Type": "application/merge-patch+json"}
REPO = pathlib.Path(__file__).resolve().parents[2]
MODEL_DEPLOYMENT_CRD = REPO / "crds" / "modeldeployments.gpufleet.io.yaml"


async def _create(api: aiohttp.ClientSession, body: dict[str, Any]) -> tuple[int, Any]:
    async with api.post(WIDGETS, json=body) as response:
        return response.status, await response.json()


async def _patch(api: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    """A merge patch of the widget at ``path`` (below the widgets' collection)."""
    async with api.patch(f"{WIDGETS}/{path}", json=body, headers=MERGE) as response:
        return response.status, await response.json()


async def test_defaults_applied_and_unknown_fields_pruned(api: aiohttp.ClientSession) -> None:
    body = widget("d", extra={"anything": {"goes": 1}})
    body["spec"]["unknown"] = "dropped"  # type: ignore[index]
    status, created = await _create(api, body)
    assert status == 201
    assert created["spec"]["size"] == 3
    assert created["spec"]["minSize"] == 1
    assert "unknown" not in created["spec"]
    assert created["spec"]["extra"] == {"anything": {"goes": 1}}  # preserve-unknown-fields


async def test_nulls_are_dropped_then_defaulted(api: aiohttp.ClientSession) -> None:
    """The API server prunes a null field its schema does not call nullable (a Helm
    template's ``version: ~``), then defaults it; a null list item is still invalid."""
    status, created = await _create(api, widget("n", size=None, label=None))
    assert status == 201, created
    assert created["spec"]["size"] == 3
    assert "label" not in created["spec"]
    status, body = await _create(api, widget("nl", tags=[None]))
    assert status == 422
    assert [cause["field"] for cause in body["details"]["causes"]] == ["spec.tags[0]", "<nil>"]


# Whether the CEL rules still run: a value of the wrong type (or format), not in its enum,
# too long or too many items leaves them unchecked, and the API server adds a cause saying so.
CHECKED, UNCHECKED = True, False


@pytest.mark.parametrize(
    ("spec", "field", "fragment", "rules_run"),
    [
        ({"size": 11}, "spec.size", "should be less than or equal to 10", CHECKED),
        ({"size": 0}, "spec.size", "should be greater than or equal to 1", CHECKED),
        ({"size": "big"}, "spec.size", "must be of type integer", UNCHECKED),
        ({"color": "pink"}, "spec.color", 'supported values: "red", "green", "blue"', UNCHECKED),
        ({"label": "Upper"}, "spec.label", "should match '^[a-z]+$'", CHECKED),
        ({"label": "abcdefghij"}, "spec.label", "may not be more than 8", UNCHECKED),
        ({"ratio": 0}, "spec.ratio", "should be greater than 0", CHECKED),
        ({"tags": ["a", "b", "c", "d"]}, "spec.tags", "must have at most 3 items", UNCHECKED),
        ({"tags": [1]}, "spec.tags[0]", "must be of type string", UNCHECKED),
        ({"minSize": 5, "maxSize": 2}, "spec.minSize", "minSize must be <= maxSize", CHECKED),
        ({"since": "yesterday"}, "spec.since", "must be of type date-time", UNCHECKED),
        ({"budget": 7}, "spec.budget", "budget must be a multiple of 5, not 7", CHECKED),
    ],
)
async def test_invalid_values_are_422_naming_the_field(
    api: aiohttp.ClientSession, spec: dict[str, Any], field: str, fragment: str, rules_run: bool
) -> None:
    status, body = await _create(api, widget("bad", **spec))
    assert status == 422
    assert body["kind"] == "Status"
    assert body["reason"] == "Invalid"
    listed = "" if rules_run else "["
    assert body["message"].startswith(f'Widget.example.com "bad" is invalid: {listed}{field}: ')
    assert fragment in body["message"]
    causes = body["details"]["causes"]
    assert [cause["field"] for cause in causes] == [field] + ([] if rules_run else ["<nil>"])
    if not rules_run:
        assert "some validation rules were not checked" in causes[1]["message"]
    assert body["details"]["kind"] == "Widget"
    assert body["details"]["group"] == "example.com"


async def test_rules_do_not_run_on_a_value_of_the_wrong_type(
    api: aiohttp.ClientSession,
) -> None:
    """The API server's CEL rules see only well-typed objects: a rule that would fail on
    the misread value is not reported (only the wrong type and that rules were skipped)."""
    status, body = await _create(api, widget("typed", minSize="five", maxSize=2))
    assert status == 422
    assert [cause["field"] for cause in body["details"]["causes"]] == ["spec.minSize", "<nil>"]


async def test_integers_beyond_int64_are_floats(api: aiohttp.ClientSession) -> None:
    """The API server decodes a JSON integer that int64 cannot hold as a float64: a number
    field takes it, an integer field refuses it (a float beyond 2**53 is no integer)."""
    status, created = await _create(api, widget("big", ratio=10**30))
    assert status == 201, created
    assert created["spec"]["ratio"] == 1e30
    status, body = await _create(api, widget("huge", size=10**20))
    assert status == 422, body
    assert body["details"]["causes"][0]["field"] == "spec.size"
    assert "must be of type integer" in body["details"]["causes"][0]["message"]


# As the API server's Go RE2: "$" is the end of the text, not also before a final newline.
@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"label": "abc\n"}, "spec.label"),
        ({"since": "2026-01-01T00:00:00Z\n"}, "spec.since"),
    ],
)
async def test_a_final_newline_does_not_match_the_end(
    api: aiohttp.ClientSession, spec: dict[str, Any], field: str
) -> None:
    status, body = await _create(api, widget("newline", **spec))
    assert status == 422, body
    assert body["details"]["causes"][0]["field"] == field


# A real API server gives CEL a number field as a double, whole or not.
@pytest.mark.parametrize(("weight", "accepted"), [(1, True), (5, True), (2.5, True), (6, False)])
async def test_a_whole_number_is_a_double_to_cel(
    api: aiohttp.ClientSession, weight: float, accepted: bool
) -> None:
    status, body = await _create(api, widget("weighed", weight=weight))
    if accepted:
        assert status == 201, body
        assert body["spec"]["weight"] == weight
    else:
        assert status == 422, body
        assert [c["field"] for c in body["details"]["causes"]] == ["spec.weight"]
        assert "weight must be at most 5" in body["details"]["causes"][0]["message"]


async def test_required_field(api: aiohttp.ClientSession) -> None:
    status, body = await _create(api, {"metadata": {"name": "r"}, "spec": {"size": 2}})
    assert status == 422
    assert body["details"]["causes"][0] == {
        "reason": "FieldValueRequired",
        "message": "Required value",
        "field": "spec.color",
    }


async def test_patches_are_validated_too(api: aiohttp.ClientSession) -> None:
    await _create(api, widget("p"))
    async with api.patch(f"{WIDGETS}/p", json={"spec": {"size": 99}}, headers=MERGE) as response:
        assert response.status == 422
    async with api.get(f"{WIDGETS}/p") as response:
        assert (await response.json())["spec"]["size"] == 3


async def test_transition_rule_compares_with_old_self(api: aiohttp.ClientSession) -> None:
    status, _ = await _create(api, widget("t", immutable="first"))
    assert status == 201
    status, body = await _patch(api, "t", {"spec": {"immutable": "second"}})
    assert status == 422
    assert body["details"]["causes"][0]["field"] == "spec.immutable"
    assert "immutable cannot change" in body["message"]


async def test_a_rule_added_later_ratchets_on_unchanged_values(
    api: aiohttp.ClientSession,
) -> None:
    """Kubernetes >= 1.30: an object the CRD's new rule would refuse still takes status
    updates and edits of its other fields; changing the offending field is validated."""
    status, _ = await _create(api, widget("old", label="abc"))
    assert status == 201
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    async with api.get(f"{crds}/widgets.example.com") as response:
        crd = await response.json()
    label = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]["label"]
    label["x-kubernetes-validations"] = [{"rule": "self.size() >= 5", "message": "too short"}]
    async with api.put(f"{crds}/widgets.example.com", json=crd) as response:
        assert response.status == 200
    status, body = await _patch(api, "old/status", {"status": {"phase": "Ready"}})
    assert status == 200, body
    status, body = await _patch(api, "old", {"spec": {"size": 4}})
    assert status == 200, body
    status, body = await _patch(api, "old", {"spec": {"label": "xyz"}})
    assert status == 422
    assert body["details"]["causes"][0]["field"] == "spec.label"
    assert "too short" in body["message"]
    status, _ = await _create(api, widget("new", label="abc"))
    assert status == 422


async def test_invalid_object_name(api: aiohttp.ClientSession) -> None:
    status, body = await _create(api, widget("Not_A_Name"))
    assert status == 422
    assert body["details"]["causes"][0]["field"] == "metadata.name"


def _model_deployment(name: str, **scaling: int) -> dict[str, Any]:
    return {
        "apiVersion": "gpufleet.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {
            "model": {"name": "llama", "repository": "s3://models/llama"},
            "slo": {"latencyP95Ms": 200},
            "cost": {"maxHourlyCost": 10},
            "scaling": scaling,
        },
    }


async def test_model_deployment_crd_rejects_min_above_max() -> None:
    if not MODEL_DEPLOYMENT_CRD.exists():
        pytest.skip(f"{MODEL_DEPLOYMENT_CRD} is not generated yet")
    url = "/apis/gpufleet.io/v1alpha1/namespaces/default/modeldeployments"
    async with (
        EmulatedApiServer(crds=[MODEL_DEPLOYMENT_CRD]) as server,
        aiohttp.ClientSession(base_url=server.url) as api,
    ):
        async with api.post(
            url, json=_model_deployment("ok", minReplicas=1, maxReplicas=3)
        ) as response:
            assert response.status == 201, await response.text()
        async with api.post(
            url, json=_model_deployment("bad", minReplicas=5, maxReplicas=2)
        ) as response:
            body = await response.json()
    assert response.status == 422
    assert body["message"].startswith(
        'ModelDeployment.gpufleet.io "bad" is invalid: spec.scaling.minReplicas: Invalid value'
    )
    assert body["details"]["causes"][0]["field"] == "spec.scaling.minReplicas"
