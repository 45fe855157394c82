"""``kubectl get`` tables: ``meta.k8s.io/v1`` ``Table`` responses."""

from __future__ import annotations

import datetime
from typing import Any

from gpufleet_devtools.apiserver import jsonpath
from gpufleet_devtools.apiserver.errors import JsonDict
from gpufleet_devtools.apiserver.resources import PrinterColumn, ResourceType

TABLE_MEDIA_MARK = "as=Table"

_NAME_COLUMN = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": "Name must be unique within a namespace.",
    "priority": 0,
}
_AGE_COLUMN = PrinterColumn(
    name="Age",
    type="date",
    json_path=".metadata.creationTimestamp",
    description="CreationTimestamp is a timestamp representing the server time when this "
    "object was created.",
)


def wants_table(accept: str) -> bool:
    """kubectl asks for ``application/json;as=Table;v=v1;g=meta.k8s.io`` first."""
    first = accept.split(",")[0]
    return TABLE_MEDIA_MARK in first.replace(" ", "")


def human_age(timestamp: str, now: datetime.datetime) -> str:
    """Like the API server's ``duration.HumanDuration``."""
    try:
        created = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<invalid>"
    seconds = max(0, int((now - created).total_seconds()))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    return f"{days}d"


def _columns(rtype: ResourceType) -> list[PrinterColumn]:
    columns = list(rtype.printer_columns)
    if not any(column.json_path == _AGE_COLUMN.json_path for column in columns):
        columns.append(_AGE_COLUMN)
    return columns


def _cell(obj: JsonDict, column: PrinterColumn, now: datetime.datetime) -> Any:
    try:
        values = jsonpath.find(obj, column.json_path)
    except ValueError:
        return None
    if not values:
        return None
    value = values[0] if len(values) == 1 else ",".join(str(v) for v in values)
    if column.type == "date" and isinstance(value, str):
        return human_age(value, now)
    if isinstance(value, (dict, list)):
        return str(value)
    return value


def _partial_metadata(obj: JsonDict) -> JsonDict:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def render_table(
    rtype: ResourceType,
    objects: list[JsonDict],
    resource_version: str,
    include_object: str = "Metadata",
    now: datetime.datetime | None = None,
) -> JsonDict:
    now = now or datetime.datetime.now(datetime.UTC)
    columns = _columns(rtype)
    definitions = [dict(_NAME_COLUMN)] + [
        {
            "name": column.name,
            "type": column.type,
            "format": column.format,
            "description": column.description,
            "priority": column.priority,
        }
        for column in columns
    ]
    rows = []
    for obj in objects:
        row: JsonDict = {
            "cells": [obj["metadata"]["name"]] + [_cell(obj, column, now) for column in columns]
        }
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = _partial_metadata(obj)
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }
