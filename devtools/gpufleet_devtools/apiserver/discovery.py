"""Discovery documents (``/api``, ``/apis``, ``/api/v1``, ``/apis/{group}/{version}``)."""

from __future__ import annotations

import re

from gpufleet_devtools.apiserver.errors import JsonDict
from gpufleet_devtools.apiserver.resources import ResourceRegistry, ResourceType

_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")

SERVER_VERSION: JsonDict = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0-gpufleet-emulator",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def _versions_by_group(registry: ResourceRegistry) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for rtype in registry:
        versions = groups.setdefault(rtype.group, [])
        if rtype.version not in versions:
            versions.append(rtype.version)
    return groups


def _version_priority(version: str) -> tuple[int, int, int]:
    """v1 > v1beta2 > v1beta1 > v1alpha1, as Kubernetes orders versions."""
    match = _VERSION_RE.match(version)
    if match is None:
        return (-1, 0, 0)
    major, stability, minor = match.groups()
    rank = {"alpha": 0, "beta": 1, None: 2}[stability]
    return (rank, int(major), int(minor or 0))


def group_document(group: str, versions: list[str]) -> JsonDict:
    ordered = sorted(versions, key=_version_priority, reverse=True)
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in ordered]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def api_groups(registry: ResourceRegistry) -> JsonDict:
    groups = _versions_by_group(registry)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [group_document(g, v) for g, v in groups.items() if g],
    }


def api_group(registry: ResourceRegistry, group: str) -> JsonDict | None:
    versions = _versions_by_group(registry).get(group)
    if not group or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **group_document(group, versions)}


def _resource_entries(rtype: ResourceType) -> list[JsonDict]:
    main: JsonDict = {
        "name": rtype.plural,
        "singularName": rtype.singular,
        "namespaced": rtype.namespaced,
        "kind": rtype.kind,
        "verbs": list(rtype.verbs),
    }
    if rtype.short_names:
        main["shortNames"] = list(rtype.short_names)
    if rtype.categories:
        main["categories"] = list(rtype.categories)
    entries = [main]
    if rtype.has_status:
        entries.append(
            {
                "name": f"{rtype.plural}/status",
                "singularName": "",
                "namespaced": rtype.namespaced,
                "kind": rtype.kind,
                "verbs": ["get", "patch", "update"],
            }
        )
    return entries


def api_resources(registry: ResourceRegistry, group: str, version: str) -> JsonDict | None:
    types = [t for t in registry if t.group == group and t.version == version]
    if not types:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [entry for rtype in types for entry in _resource_entries(rtype)],
    }
