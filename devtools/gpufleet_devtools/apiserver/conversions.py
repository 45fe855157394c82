"""What the API server's conversion of a built-in type does to an object written to it.

Only what the operator meets: a pod spec's deprecated ``serviceAccount`` is an alias of
``serviceAccountName`` (kubernetes ``pkg/apis/core/v1/conversion.go``): it is read as
``serviceAccountName`` when that is empty, and always written back as its mirror. So a
merge patch that removes ``serviceAccountName`` alone changes nothing.
"""

from __future__ import annotations

import copy
from typing import Any

JsonDict = dict[str, Any]

POD_SPECS: dict[tuple[str, str, str], tuple[str, ...]] = {
    ("", "v1", "Pod"): ("spec",),
    ("", "v1", "PodTemplate"): ("template", "spec"),
    ("apps", "v1", "Deployment"): ("spec", "template", "spec"),
    ("apps", "v1", "ReplicaSet"): ("spec", "template", "spec"),
    ("apps", "v1", "StatefulSet"): ("spec", "template", "spec"),
    ("apps", "v1", "DaemonSet"): ("spec", "template", "spec"),
    ("batch", "v1", "Job"): ("spec", "template", "spec"),
}
"""Where each built-in kind holds a pod spec."""


def converted(group: str, version: str, kind: str, obj: JsonDict) -> JsonDict:
    """``obj`` as the API server stores it after its round trip through the Go type."""
    path = POD_SPECS.get((group, version, kind))
    if path is None:
        return obj
    parent: Any = obj
    for key in path:
        parent = parent.get(key) if isinstance(parent, dict) else None
    if not isinstance(parent, dict):
        return obj
    name = parent.get("serviceAccountName") or parent.get("serviceAccount")
    if (parent.get("serviceAccountName"), parent.get("serviceAccount")) == (name, name):
        return obj
    out = copy.deepcopy(obj)
    spec = out
    for key in path:
        spec = spec[key]
    spec.pop("serviceAccount", None)
    spec.pop("serviceAccountName", None)
    if name:
        spec["serviceAccountName"] = spec["serviceAccount"] = name
    return out
