"""What the server serves: resource types (built-in kinds and CRD-defined ones)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from gpufleet_devtools.apiserver.errors import JsonDict

ResourceKey = tuple[str, str, str]  # (group, version, plural)

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class PrinterColumn:
    """A CRD ``additionalPrinterColumns`` entry (``kubectl get`` columns)."""

    name: str
    type: str
    json_path: str
    description: str = ""
    priority: int = 0
    format: str = ""


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    has_status: bool = False
    # CRD-defined types carry their schema; built-ins use builtin_schemas (their fields only).
    schema: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    printer_columns: tuple[PrinterColumn, ...] = ()
    is_custom: bool = False
    verbs: tuple[str, ...] = ALL_VERBS

    @property
    def key(self) -> ResourceKey:
        return (self.group, self.version, self.plural)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def spec_fields_of(self, obj: JsonDict) -> JsonDict:
        """The part whose changes bump ``metadata.generation``.

        For custom resources that is everything but metadata (and status when it is a
        subresource); for built-ins only ``spec``.
        """
        if not self.is_custom:
            return {"spec": obj.get("spec")}
        ignored = {"metadata", "status"} if self.has_status else {"metadata"}
        return {
            k: v for k, v in obj.items() if k not in ignored and k not in ("apiVersion", "kind")
        }


def _builtin(
    group: str,
    plural: str,
    kind: str,
    namespaced: bool = True,
    short: Iterable[str] = (),
    status: bool = False,
    categories: Iterable[str] = (),
) -> ResourceType:
    return ResourceType(
        group=group,
        version="v1",
        plural=plural,
        kind=kind,
        singular=kind.lower(),
        namespaced=namespaced,
        short_names=tuple(short),
        categories=tuple(categories),
        has_status=status,
    )


BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _builtin("", "namespaces", "Namespace", namespaced=False, short=["ns"], status=True),
    _builtin("", "pods", "Pod", short=["po"], status=True, categories=["all"]),
    _builtin("", "services", "Service", short=["svc"], status=True, categories=["all"]),
    _builtin("", "events", "Event", short=["ev"]),
    _builtin("", "configmaps", "ConfigMap", short=["cm"]),
    _builtin("", "secrets", "Secret"),
    _builtin("", "serviceaccounts", "ServiceAccount", short=["sa"]),
    _builtin(
        "apps", "deployments", "Deployment", short=["deploy"], status=True, categories=["all"]
    ),
    _builtin("policy", "poddisruptionbudgets", "PodDisruptionBudget", short=["pdb"], status=True),
    _builtin("networking.k8s.io", "networkpolicies", "NetworkPolicy", short=["netpol"]),
    _builtin("coordination.k8s.io", "leases", "Lease"),
    _builtin("events.k8s.io", "events", "Event", short=["ev"]),
    _builtin(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        short=["crd", "crds"],
        status=True,
    ),
)

CRD_KEY: ResourceKey = ("apiextensions.k8s.io", "v1", "customresourcedefinitions")
NAMESPACE_KEY: ResourceKey = ("", "v1", "namespaces")
POD_KEY: ResourceKey = ("", "v1", "pods")


def types_from_crd(crd: JsonDict) -> list[ResourceType]:
    """One served type per served version of an ``apiextensions.k8s.io/v1`` CRD."""
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    result = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        columns = tuple(
            PrinterColumn(
                name=column["name"],
                type=column.get("type", "string"),
                json_path=column["jsonPath"],
                description=column.get("description", ""),
                priority=int(column.get("priority", 0)),
                format=column.get("format", ""),
            )
            for column in version.get("additionalPrinterColumns", [])
        )
        result.append(
            ResourceType(
                group=spec["group"],
                version=version["name"],
                plural=names["plural"],
                kind=names["kind"],
                singular=names.get("singular") or names["kind"].lower(),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames", [])),
                categories=tuple(names.get("categories", [])),
                has_status="status" in (version.get("subresources") or {}),
                schema=(version.get("schema") or {}).get("openAPIV3Schema"),
                printer_columns=columns,
                is_custom=True,
            )
        )
    return result


class ResourceRegistry:
    """The served types by (group, version, plural), kept in registration order."""

    def __init__(self, types: Iterable[ResourceType] = BUILTIN_TYPES) -> None:
        self._types: dict[ResourceKey, ResourceType] = {}
        self._crd_keys: dict[str, list[ResourceKey]] = {}
        for rtype in types:
            self.add(rtype)

    def add(self, rtype: ResourceType) -> None:
        self._types[rtype.key] = rtype

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(list(self._types.values()))

    def register_crd(self, crd: JsonDict) -> list[ResourceType]:
        """(Re)register a CRD's types; versions it no longer serves are dropped."""
        name = crd["metadata"]["name"]
        self.unregister_crd(name)
        types = types_from_crd(crd)
        for rtype in types:
            self.add(rtype)
        self._crd_keys[name] = [rtype.key for rtype in types]
        return types

    def unregister_crd(self, name: str) -> list[ResourceKey]:
        keys = self._crd_keys.pop(name, [])
        for key in keys:
            self._types.pop(key, None)
        return keys
