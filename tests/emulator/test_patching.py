"""The patch algorithms on plain documents (RFC 7386, RFC 6902, strategic merge)."""

from __future__ import annotations

import pytest

from gpufleet_devtools.apiserver import ApiError
from gpufleet_devtools.apiserver.patching import json_patch, merge_patch, strategic_merge_patch


def test_merge_patch_deletes_with_null_and_replaces_lists() -> None:
    target = {"a": {"b": 1, "c": 2}, "l": [1, 2]}
    assert merge_patch(target, {"a": {"b": None, "d": 3}, "l": [3]}) == {
        "a": {"c": 2, "d": 3},
        "l": [3],
    }
    assert target == {"a": {"b": 1, "c": 2}, "l": [1, 2]}  # the input is left alone


def test_json_patch_operations() -> None:
    doc = {"metadata": {"finalizers": ["a"]}, "spec": {"x": 1}}
    patched = json_patch(
        doc,
        [
            {"op": "add", "path": "/metadata/finalizers/-", "value": "b"},
            {"op": "remove", "path": "/metadata/finalizers/0"},
            {"op": "copy", "from": "/spec/x", "path": "/spec/y"},
            {"op": "move", "from": "/spec/x", "path": "/spec/z"},
            {"op": "replace", "path": "/spec/y", "value": 5},
            {"op": "add", "path": "/metadata/annotations", "value": {"a/b": "c"}},
            {"op": "remove", "path": "/metadata/annotations/a~1b"},
        ],
    )
    assert patched == {
        "metadata": {"finalizers": ["b"], "annotations": {}},
        "spec": {"y": 5, "z": 1},
    }


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "remove", "path": "/spec/missing"},
        {"op": "replace", "path": "/nope/x", "value": 1},
        {"op": "test", "path": "/spec/x", "value": 2},
    ],
)
def test_json_patch_failures_are_422(operation: dict[str, object]) -> None:
    with pytest.raises(ApiError) as error:
        json_patch({"spec": {"x": 1}}, [operation])
    assert error.value.code == 422


def test_strategic_merge_patch_keyed_lists_and_delete_directive() -> None:
    target = {
        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        "ports": [{"containerPort": 80, "name": "http"}],
        "args": ["x"],
    }
    patch = {
        "env": [{"name": "B", "$patch": "delete"}, {"name": "C", "value": "3"}],
        "ports": [{"containerPort": 80, "protocol": "TCP"}],
        "args": ["y"],
    }
    assert strategic_merge_patch(target, patch) == {
        "env": [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}],
        "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}],
        "args": ["y"],
    }
