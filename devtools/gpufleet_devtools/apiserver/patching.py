"""The four PATCH flavours of the API server, applied to plain JSON documents."""

from __future__ import annotations

import copy
from typing import Any

from gpufleet_devtools.apiserver.errors import (
    ApiError,
    JsonDict,
    bad_request,
    unsupported_media_type,
)

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (MERGE_PATCH, JSON_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)

# Lists that the strategic merge patch merges item by item (the patchMergeKey of the
# built-in types) instead of replacing them whole; the first key an item has is used.
_STRATEGIC_MERGE_KEYS: dict[str, tuple[str, ...]] = {
    "containers": ("name",),
    "initContainers": ("name",),
    "ephemeralContainers": ("name",),
    "env": ("name",),
    "volumes": ("name",),
    "volumeMounts": ("mountPath", "name"),
    "imagePullSecrets": ("name",),
    "ports": ("containerPort", "port", "name"),
    "tolerations": ("key",),
    "conditions": ("type",),
}


def _unprocessable(message: str) -> ApiError:
    return ApiError(422, "Invalid", message)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: dicts merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """An approximation of the strategic merge patch: a merge patch where the well-known
    lists of the built-in types (containers, env, ports, ...) merge by their merge key and
    ``$patch: delete`` items remove the matching item. Other directives are dropped."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif (
            key in _STRATEGIC_MERGE_KEYS
            and isinstance(value, list)
            and isinstance(result.get(key), list)
        ):
            result[key] = _merge_list_by_key(result[key], value, _STRATEGIC_MERGE_KEYS[key])
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _merge_key(item: Any, candidates: tuple[str, ...]) -> tuple[str, Any] | None:
    if not isinstance(item, dict):
        return None
    for name in candidates:
        if name in item:
            return (name, item[name])
    return None


def _merge_list_by_key(current: list[Any], patch: list[Any], keys: tuple[str, ...]) -> list[Any]:
    if not all(_merge_key(item, keys) for item in [*current, *patch]):
        return copy.deepcopy(patch)  # not a keyed list after all: replace like a merge patch
    merged = list(current)
    for item in patch:
        key = _merge_key(item, keys)
        index = next((i for i, old in enumerate(merged) if _merge_key(old, keys) == key), None)
        if item.get("$patch") == "delete":
            if index is not None:
                merged.pop(index)
        elif index is None:
            merged.append(strategic_merge_patch({}, item))
        else:
            merged[index] = strategic_merge_patch(merged[index], item)
    return merged


def apply_patch(target: Any, applied: JsonDict) -> Any:
    """Server-side apply, approximated as a merge of the applied configuration.

    A real API server tracks which manager owns each field (``managedFields``), removes
    fields that this manager applied before but omits now, answers 409 when another manager
    owns a field that changes (unless ``force=true``), and merges lists per
    ``x-kubernetes-list-type``/``x-kubernetes-list-map-keys``. None of that happens here:
    the applied object is merged in (keyed lists merge like the strategic merge patch).
    """
    return strategic_merge_patch(target, applied)


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _unprocessable(f"invalid JSON pointer: {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _container(doc: Any, parts: list[str], path: str) -> Any:
    for part in parts:
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            raise _unprocessable(f"jsonpatch: path {path!r} not found")
    return doc


def _get(doc: Any, path: str) -> Any:
    return _container(doc, _pointer(path), path)


def _add(doc: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _container(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise _unprocessable(f"jsonpatch add: index out of range in {path!r}")
    else:
        raise _unprocessable(f"jsonpatch add: {path!r} is not in a container")
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    parts = _pointer(path)
    if not parts:
        raise _unprocessable("jsonpatch remove: cannot remove the root")
    parent = _container(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return doc, parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return doc, parent.pop(int(last))
    raise _unprocessable(f"jsonpatch remove: path {path!r} not found")


def json_patch(target: JsonDict, operations: Any) -> Any:
    """RFC 6902 (add, remove, replace, move, copy, test); a failed ``test`` is a 422, as
    kopf expects when it guards its finalizer patches with the resourceVersion."""
    if not isinstance(operations, list):
        raise bad_request("json patch must be a list of operations")
    doc: Any = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise bad_request(f"invalid json patch operation: {operation!r}")
        op, path = operation["op"], operation["path"]
        if op == "add":
            doc = _add(doc, path, copy.deepcopy(operation.get("value")))
        elif op == "remove":
            doc, _ = _remove(doc, path)
        elif op == "replace":
            doc, _ = _remove(doc, path)
            doc = _add(doc, path, copy.deepcopy(operation.get("value")))
        elif op == "move":
            doc, value = _remove(doc, operation["from"])
            doc = _add(doc, path, value)
        elif op == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, operation["from"])))
        elif op == "test":
            if _get(doc, path) != operation.get("value"):
                raise _unprocessable(
                    f"the server rejected our request due to an error in our request: "
                    f"testing value at {path!r} failed"
                )
        else:
            raise bad_request(f"unknown json patch operation: {op!r}")
    return doc


def apply_any(content_type: str, target: JsonDict, patch: Any) -> Any:
    if content_type == MERGE_PATCH:
        return merge_patch(target, patch)
    if content_type == STRATEGIC_MERGE_PATCH:
        return strategic_merge_patch(target, patch)
    if content_type == JSON_PATCH:
        return json_patch(target, patch)
    if content_type == APPLY_PATCH:
        if not isinstance(patch, dict):
            raise bad_request("the applied configuration must be an object")
        return apply_patch(target, patch)
    raise unsupported_media_type(f"unsupported patch type: {content_type}")
