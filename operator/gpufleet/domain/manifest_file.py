"""A YAML file of Kubernetes objects, read at the boundary as ``kubectl apply`` would read it.

The file is refused naming the line and column of what kubectl would refuse (YAML that does
not parse, a key given twice) and the document of an object it could not apply (not a
mapping, no ``kind``). A ``List`` (``kubectl get -o yaml``) is read as its items.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from gpufleet import GROUP, KIND, VERSION

API_VERSION = f"{GROUP}/{VERSION}"


class ManifestError(ValueError):
    """A file that is not a list of Kubernetes objects; the message names where."""


@dataclass(frozen=True)
class ManifestObject:
    """One object of the file, with where it is (``md.yaml, document 2``)."""

    where: str
    kind: str | None
    api_version: str | None
    metadata: dict[str, Any]
    body: dict[str, Any]
    """The whole object as written."""

    @property
    def name(self) -> str | None:
        name = self.metadata.get("name")
        return None if name is None else str(name)

    @property
    def annotations(self) -> dict[str, str]:
        """``metadata.annotations`` (values as the API server stores them: strings)."""
        found = self.metadata.get("annotations")
        return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def model_deployment_spec(obj: ManifestObject) -> dict[str, Any]:
    """The ``spec`` of a ModelDeployment object, or a :class:`ManifestError` saying why
    the API server would not take it (another API version, a spec that is no mapping)."""
    if obj.api_version != API_VERSION:
        raise ManifestError(
            f"{obj.where}: apiVersion {obj.api_version!r}: a {KIND} is {API_VERSION}"
        )
    spec = obj.body.get("spec")
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise ManifestError(f"{obj.where}: spec: expected a mapping, got {_type(spec)}")
    return spec


def read_objects(text: str, source: str, *, kindless: str | None = None) -> list[ManifestObject]:
    """Every object in ``text`` (the file ``source``), empty documents skipped; a mapping
    without a ``kind`` is refused, or with ``kindless`` read as one of that kind."""
    objects: list[ManifestObject] = []
    for number, document in enumerate(read_yaml(text, source), start=1):
        if document is not None:
            objects.extend(_objects(document, f"{source}, document {number}", kindless))
    return objects


def read_yaml(text: str, source: str) -> list[Any]:
    """The YAML documents of ``text`` (the file ``source``), or a :class:`ManifestError`
    naming the line and column where it stops being YAML or gives a key twice."""
    try:
        return list(yaml.load_all(text, Loader=_UniqueKeyLoader))
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = err.problem or err.context or "not YAML"
        raise ManifestError(f"{source}: {at}{problem}") from err
    except yaml.YAMLError as err:
        raise ManifestError(f"{source}: not YAML ({err})") from err


def _objects(document: object, where: str, kindless: str | None) -> Iterator[ManifestObject]:
    if not isinstance(document, dict):
        raise ManifestError(
            f"{where}: expected a Kubernetes object (a mapping), got {_type(document)}"
        )
    kind = document.get("kind", kindless)
    if kind is None:
        raise ManifestError(f"{where}: no kind (kind: {KIND}, apiVersion: {API_VERSION})")
    metadata = document.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ManifestError(f"{where}: metadata: expected a mapping, got {_type(metadata)}")
    if isinstance(kind, str) and kind.endswith("List") and "items" in document:
        items = document["items"] or []
        if not isinstance(items, list):
            raise ManifestError(f"{where}: items: expected a list, got {_type(items)}")
        for index, item in enumerate(items):
            yield from _objects(item, f"{where}, items[{index}]", kindless)
        return
    api_version = document.get("apiVersion")
    yield ManifestObject(
        where=where,
        kind=str(kind),
        api_version=None if api_version is None else str(api_version),
        metadata=metadata,
        body=document,
    )


def _type(value: object) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping, as kubectl does (PyYAML
    would keep the last silently, losing the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: dict[Hashable, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    f"in the mapping at line {node.start_mark.line + 1}",
                    node.start_mark,
                    f"key {key!r} is given twice (first at line {seen[key].line + 1})",
                    key_node.start_mark,
                )
            if isinstance(key, Hashable):
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)
