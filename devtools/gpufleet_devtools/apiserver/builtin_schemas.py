"""The fields of built-in kinds, as the API server knows them.

A real API server decodes a built-in object (a Deployment, a Service, ...) into its Go
type: a field the type lacks is never stored, and the write's ``fieldValidation`` says
whether that is silent (Ignore), reported in a ``Warning`` header (Warn, the default) or
a 400 naming the field (Strict, kubectl's default since 1.27) -- as for custom resources.

The types come from the OpenAPI schemas that ``kubernetes-validate`` ships, converted to
JSON Schema, for the Kubernetes version the emulator reports (``discovery``). In their
"strict" variant a struct says ``additionalProperties: false``; a map gives the schema of
its values; a free-form object (``RawExtension``, ``FieldsV1``) says neither.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from typing import Any

from gpufleet_devtools.apiserver.discovery import SERVER_VERSION

Schema = dict[str, Any]
SCHEMA_DIR = f"v{SERVER_VERSION['major']}.{SERVER_VERSION['minor']}.0-local-strict"
_REF_PREFIX = "#/$defs/"


@functools.cache
def _definitions() -> dict[str, Schema]:
    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    text = (root / SCHEMA_DIR / "_definitions.json").read_text()
    return dict(json.loads(text)["$defs"])


@functools.cache
def _by_kind() -> dict[tuple[str, str, str], str]:
    """(group, version, kind) -> the definition's name, for every top-level kind."""
    found: dict[tuple[str, str, str], str] = {}
    for name, schema in _definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or ():
            found.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    return found


def schema_of(group: str, version: str, kind: str) -> Schema | None:
    """The kind's schema; ``None`` when Kubernetes has no such built-in kind."""
    name = _by_kind().get((group, version, kind))
    return None if name is None else _definitions()[name]


def _resolved(schema: Schema) -> Schema:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
        return _definitions()[ref.removeprefix(_REF_PREFIX)]
    return schema


def _field(schema: Schema, key: str) -> Schema | None:
    """The schema of ``key`` in an object; ``None``: the object has no such field."""
    properties: dict[str, Schema] = schema.get("properties") or {}
    if key in properties:
        return _resolved(properties[key])
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        return _resolved(extra)  # a map: every key is a value
    if extra is False:
        return None  # a struct: only its declared fields
    return {}  # free-form: anything goes, unchecked


def unknown_fields(schema: Schema, value: Any, path: str = "") -> list[str]:
    """Paths of the fields the type lacks, as the API server names them (``spec.a[0].b``)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            sub = _field(schema, key)
            if sub is None:
                found.append(where)
            else:
                found += unknown_fields(sub, item, where)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        items = _resolved(schema["items"])
        for index, item in enumerate(value):
            found += unknown_fields(items, item, f"{path}[{index}]")
    return found


def prune(schema: Schema, value: Any) -> Any:
    """``value`` without the fields its type lacks (what a real server stores)."""
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            sub = _field(schema, key)
            if sub is not None:
                kept[key] = prune(sub, item)
        return kept
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        items = _resolved(schema["items"])
        return [prune(items, item) for item in value]
    return value
