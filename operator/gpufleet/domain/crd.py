"""Generate the ``ModelDeployment`` CRD from the pydantic models.

The models are the single source of truth; ``crds/modeldeployments.gpufleet.io.yaml``
is this module's output (``make crds``) and a test fails when it is stale.

Kubernetes wants a *structural* OpenAPI v3.0 schema, while pydantic emits JSON
Schema 2020-12, so this module: inlines ``$ref``s, turns ``Optional[X]``
(``anyOf [X, null]``) into ``X``, rewrites numeric ``exclusiveMinimum`` into the
OpenAPI 3.0 boolean form, drops ``title``s, and gives optional sub-objects a
``default: {}`` so the API server applies their nested defaults.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from gpufleet import GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION
from gpufleet.domain.spec import CEL_RULES, NAME_MAX, NAME_PATTERN, NAME_RULES, ModelDeploymentSpec
from gpufleet.domain.status import ModelDeploymentStatus

_DROP = {"title"}
_UNSET_BY_DEFAULT = "x-gpufleet-unset-by-default"
"""Marks an optional object whose absence means something (``None`` in Python): it gets
no ``default: {}``, or setting nothing would switch it on."""


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_resolve(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]])
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _resolve(merged, defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) == 1:
            rest = {k: v for k, v in node.items() if k != "anyOf"}
            if rest.get("default", ...) is None:
                rest.pop("default")
                rest[_UNSET_BY_DEFAULT] = True
            return _resolve({**options[0], **rest}, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP or key == "$defs":
            continue
        if key == "properties":
            out[key] = {name: _resolve(prop, defs) for name, prop in value.items()}
        else:
            out[key] = _resolve(value, defs)
    if isinstance(out.get("exclusiveMinimum"), int | float) and not isinstance(
        out["exclusiveMinimum"], bool
    ):
        out["minimum"] = out.pop("exclusiveMinimum")
        out["exclusiveMinimum"] = True
    if isinstance(out.get("exclusiveMaximum"), int | float) and not isinstance(
        out["exclusiveMaximum"], bool
    ):
        out["maximum"] = out.pop("exclusiveMaximum")
        out["exclusiveMaximum"] = True
    if out.get("type") == "object" and out.get("additionalProperties") is False:
        out.pop("additionalProperties")  # structural schemas prune unknown fields
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    if "const" in out:
        out["enum"] = [out.pop("const")]
    return out


def _default_empty_objects(schema: dict[str, Any]) -> None:
    """Optional object properties whose fields all default get ``default: {}``."""
    for name, prop in schema.get("properties", {}).items():
        unset_by_default = prop.pop(_UNSET_BY_DEFAULT, False)
        if prop.get("type") == "object" and "properties" in prop:
            _default_empty_objects(prop)
            optional = name not in schema.get("required", []) and not prop.get("required")
            if optional and not unset_by_default:
                prop.setdefault("default", {})


def _drop_markers(node: Any) -> None:
    if isinstance(node, dict):
        node.pop(_UNSET_BY_DEFAULT, None)
        for value in node.values():
            _drop_markers(value)
    elif isinstance(node, list):
        for item in node:
            _drop_markers(item)


def openapi_schema(model: type[Any]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True, mode="validation")
    schema: dict[str, Any] = _resolve(raw, raw.get("$defs", {}))
    _default_empty_objects(schema)
    _drop_markers(schema)
    return schema


def _printer_columns() -> list[dict[str, Any]]:
    return [
        {"name": "Runtime", "type": "string", "jsonPath": ".spec.runtime.type"},
        {"name": "Ready", "type": "integer", "jsonPath": ".status.readyReplicas"},
        {"name": "Desired", "type": "integer", "jsonPath": ".status.desiredReplicas"},
        {"name": "P95-ms", "type": "number", "jsonPath": ".status.p95LatencyMs"},
        {"name": "Target-ms", "type": "number", "jsonPath": ".spec.slo.latencyP95Ms"},
        # LLM fleets: time to first token and between tokens, measured (targets and the
        # predicted values at the desired replicas: -o wide).
        {"name": "TTFT-ms", "type": "number", "jsonPath": ".status.ttftP95Ms"},
        {"name": "ITL-ms", "type": "number", "jsonPath": ".status.itlP95Ms"},
        {
            "name": "TTFT-Pred-ms",
            "type": "number",
            "priority": 1,
            "jsonPath": ".status.predictedTtftP95Ms",
        },
        {
            "name": "ITL-Pred-ms",
            "type": "number",
            "priority": 1,
            "jsonPath": ".status.predictedItlP95Ms",
        },
        {
            "name": "TTFT-Target",
            "type": "number",
            "priority": 1,
            "jsonPath": ".spec.slo.ttftP95Ms",
        },
        {
            "name": "ITL-Target",
            "type": "number",
            "priority": 1,
            "jsonPath": ".spec.slo.itlP95Ms",
        },
        # Time per output token (a request's mean gap), for fleets that set a TPOT target.
        {"name": "TPOT-ms", "type": "number", "priority": 1, "jsonPath": ".status.tpotP95Ms"},
        {
            "name": "TPOT-Pred-ms",
            "type": "number",
            "priority": 1,
            "jsonPath": ".status.predictedTpotP95Ms",
        },
        {
            "name": "TPOT-Target",
            "type": "number",
            "priority": 1,
            "jsonPath": ".spec.slo.tpotP95Ms",
        },
        {"name": "USD/h", "type": "number", "jsonPath": ".status.hourlyCost"},
        {
            "name": "Status",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        },
        {
            "name": "Reason",
            "type": "string",
            "priority": 1,
            "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
        },
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]


def build_crd() -> dict[str, Any]:
    spec_schema = openapi_schema(ModelDeploymentSpec)
    spec_schema["x-kubernetes-validations"] = [dict(rule) for rule in CEL_RULES]
    status_schema = openapi_schema(ModelDeploymentStatus)
    conditions = status_schema["properties"]["conditions"]
    conditions["x-kubernetes-list-type"] = "map"
    conditions["x-kubernetes-list-map-keys"] = ["type"]
    spec_schema["description"] = (
        "Desired state: the model, its runtime, GPUs, SLO, budget, scaling."
    )
    status_schema.setdefault("description", "Observed state; written by the operator only.")
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "gpufleet"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": ["gpufleet", "all"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": _printer_columns(),
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": (
                                "A model served by Triton or gpufleet's torch runtime on GPUs, "
                                "autoscaled to a p95 latency target within a cost budget."
                            ),
                            "required": ["spec"],
                            # The name becomes child names and label values.
                            "x-kubernetes-validations": [dict(rule) for rule in NAME_RULES],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                # The API server allows schemas on metadata.name only.
                                "metadata": {
                                    "type": "object",
                                    "properties": {
                                        "name": {
                                            "type": "string",
                                            "maxLength": NAME_MAX,
                                            "pattern": NAME_PATTERN,
                                        }
                                    },
                                },
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                        }
                    },
                }
            ],
        },
    }


def render_crd_yaml() -> str:
    header = (
        "# Generated from gpufleet.domain.spec / gpufleet.domain.status by `make crds`.\n"
        "# Do not edit by hand: a test fails when this file is stale.\n"
    )
    body: str = yaml.safe_dump(build_crd(), sort_keys=False, width=100)
    return header + body
