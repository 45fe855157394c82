"""Diff only the fields the operator owns (KServe's rule), as a JSON merge patch.

A child is left alone when every field the operator sets already has its value
(``desired`` is a subset of ``live``): server-side defaults, fields other
controllers add, and fields handed over after creation (the Deployment's
``spec.replicas``, owned by the autoscaler) never cause a write. When something
owned differs, the patch restates the owned fields; lists are replaced whole
(the operator owns every list it sets), maps are merged, and keys of
``exclusive_maps`` the operator no longer sets are removed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

Path = tuple[str, ...]


def _scalar_equal(desired: Any, live: Any) -> bool:
    if desired == live:
        return True
    # The API server stores quantities as strings: 1 and "1" are the same GPU count.
    scalars = (int, float, str)
    if isinstance(desired, scalars) and isinstance(live, scalars) and not isinstance(desired, bool):
        return str(desired) == str(live)
    return False


def is_subset(desired: Any, live: Any) -> bool:
    """True when every value set in ``desired`` is equal in ``live``."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return False
        return all(key in live and is_subset(value, live[key]) for key, value in desired.items())
    if isinstance(desired, list):
        if not isinstance(live, list) or len(desired) != len(live):
            # An empty list we set and an absent one mean the same to Kubernetes.
            return not desired and not live
        return all(is_subset(want, have) for want, have in zip(desired, live, strict=True))
    return _scalar_equal(desired, live)


def _get(obj: Any, path: Path) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def without(obj: dict[str, Any], paths: Iterable[Path]) -> dict[str, Any]:
    """A copy of ``obj`` with ``paths`` removed."""
    out = copy.deepcopy(obj)
    for path in paths:
        parent = _get(out, path[:-1]) if len(path) > 1 else out
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
    return out


def owned_patch(
    desired: dict[str, Any],
    live: dict[str, Any],
    *,
    not_owned: Iterable[Path] = (),
    exclusive_maps: Iterable[Path] = (),
    optional_fields: Iterable[tuple[Path, ...]] = (),
) -> dict[str, Any] | None:
    """The merge patch that brings ``live``'s owned fields to ``desired``; ``None`` if none.

    ``optional_fields``: fields the operator sets only for some specs (a PriorityClass),
    each followed by the paths where the API server mirrors it; removed from ``live``,
    mirrors too, when ``desired`` no longer sets them."""
    owned = without(desired, not_owned)
    owned.pop("apiVersion", None)
    owned.pop("kind", None)
    meta = owned.get("metadata", {})
    owned["metadata"] = {
        k: v for k, v in meta.items() if k in ("labels", "annotations", "ownerReferences")
    }
    removals: list[tuple[Path, str]] = []
    for path in exclusive_maps:
        live_map = _get(live, path) or {}
        wanted = _get(owned, path) or {}
        removals += [(path, key) for key in live_map if key not in wanted]
    for field in optional_fields:
        if _get(owned, field[0]) is None:
            removals += [(path[:-1], path[-1]) for path in field if _get(live, path) is not None]
    if not removals and is_subset(owned, live):
        return None
    patch = owned
    for path, key in removals:
        node = patch
        for part in path:
            node = node.setdefault(part, {})
        node[key] = None  # JSON merge patch: null deletes the key
    return patch
