"""The part of ``/openapi/v3`` clients read to learn which query parameters writes accept.

kubectl (1.27+) sends ``fieldValidation=Strict`` only to servers whose OpenAPI v3 document
lists that parameter on the resource's PATCH operation (otherwise it downloads the schemas
to validate on the client). The emulator serves that much: per group-version, every
resource's write operations with their ``x-kubernetes-group-version-kind`` and parameters.
Unknown fields are detected where the emulator has a schema (custom resources).
"""

from __future__ import annotations

import hashlib
import json

from gpufleet_devtools.apiserver.errors import JsonDict
from gpufleet_devtools.apiserver.resources import ResourceRegistry, ResourceType

ROOT = "/openapi/v3"
_WRITE_PARAMETERS = [
    {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
    for name in ("dryRun", "fieldManager", "fieldValidation")
]


def _group_version_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _operation(rtype: ResourceType, action: str) -> JsonDict:
    return {
        "operationId": f"{action}{rtype.kind}",
        "parameters": _WRITE_PARAMETERS,
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {
            "group": rtype.group,
            "version": rtype.version,
            "kind": rtype.kind,
        },
        "responses": {"200": {"description": "OK"}},
    }


def group_version_document(registry: ResourceRegistry, path: str) -> JsonDict | None:
    """The OpenAPI v3 document of ``api/v1`` or ``apis/GROUP/VERSION`` (None: not served)."""
    paths: JsonDict = {}
    for rtype in registry:
        if _group_version_path(rtype.group, rtype.version) != path:
            continue
        scope = "namespaces/{namespace}/" if rtype.namespaced else ""
        collection = f"/{path}/{scope}{rtype.plural}"
        paths[collection] = {"post": _operation(rtype, "post")}
        paths[f"{collection}/{{name}}"] = {
            "put": _operation(rtype, "put"),
            "patch": _operation(rtype, "patch"),
        }
    if not paths:
        return None
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1"}, "paths": paths}


def root_document(registry: ResourceRegistry) -> JsonDict:
    """``/openapi/v3``: each group-version's document, by a URL that changes with it."""
    served = sorted({_group_version_path(rtype.group, rtype.version) for rtype in registry})
    paths: JsonDict = {}
    for path in served:
        document = json.dumps(group_version_document(registry, path), sort_keys=True)
        digest = hashlib.sha256(document.encode()).hexdigest()[:16].upper()
        paths[path] = {"serverRelativeURL": f"{ROOT}/{path}?hash={digest}"}
    return {"paths": paths}
