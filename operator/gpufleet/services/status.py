"""The one way ModelDeployment status is written: read, merge, write if unchanged since.

Three writers touch a ModelDeployment's status -- the reconcile handler, the
Deployment mirror and the scaling loop -- and ``conditions`` is a list, which a
merge patch replaces whole. Each write therefore merges its updates onto the
*current* status and patches with that ``resourceVersion`` as a precondition; on a
conflict it re-reads the object and starts over. The first try may use the copy the
watch delivered (no read); every later one reads. Nothing another writer set is
lost, and condition-change Events are computed against what really changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gpufleet import GROUP, PLURAL, VERSION
from gpufleet.domain.conditions import (
    Condition,
    ConditionStatus,
    ConditionType,
    merge_conditions,
)
from gpufleet.k8s.client import KubernetesApi, Resource
from gpufleet.k8s.errors import ConflictError, NotFoundError

MODELDEPLOYMENTS = Resource(GROUP, VERSION, PLURAL)
MAX_ATTEMPTS = 8
_BAD_STATUS = {ConditionType.SCALING_LIMITED.value: ConditionStatus.TRUE.value}
"""Conditions whose True is the news worth a Warning (for the others, False is)."""
MIRRORS_OF_READY = frozenset({ConditionType.RECONCILING.value, ConditionType.STALLED.value})
"""Conditions that restate Ready for kstatus: Ready's own Event says it once."""


@dataclass(frozen=True, slots=True)
class EventNote:
    type: str  # "Normal" | "Warning"
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class StatusChange:
    """Fields to set and the Events that go with them (``None`` fields: nothing to write)."""

    fields: dict[str, Any] = field(default_factory=dict)
    events: tuple[EventNote, ...] = ()


StatusComputer = Callable[[Mapping[str, Any]], StatusChange | None]
"""From the current status, what to change; ``None`` when nothing is worth writing."""


def with_conditions(
    current: Mapping[str, Any],
    fields: Mapping[str, Any],
    conditions: list[Condition],
    generation: int | None,
    now: float,
) -> StatusChange:
    """``fields`` plus ``conditions`` merged into the current ones, with an Event per change."""
    merged, changes = merge_conditions(
        current.get("conditions"), conditions, generation=generation, now=now
    )
    events = tuple(
        EventNote(
            "Warning" if new["status"] == _BAD_STATUS.get(new["type"], "False") else "Normal",
            str(new["reason"]),
            f"{new['type']} is {new['status']}: {new['message']}",
        )
        for old, new in changes
        if new["type"] not in MIRRORS_OF_READY
        and (
            old is None or (old.get("status"), old.get("reason")) != (new["status"], new["reason"])
        )
    )
    return StatusChange({**fields, "conditions": merged}, events)


def combine(*computers: StatusComputer) -> StatusComputer:
    """One computer doing each of ``computers`` in turn, each on what the last one set."""

    def compute(current: Mapping[str, Any]) -> StatusChange | None:
        merged = dict(current)
        fields: dict[str, Any] = {}
        events: list[EventNote] = []
        for computer in computers:
            change = computer(merged)
            if change is None:
                continue
            merged = merge_patched(merged, change.fields)
            fields = merge_fields(fields, change.fields)
            events.extend(change.events)
        return StatusChange(fields, tuple(events)) if fields else None

    return compute


def merge_patched(current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """``current`` after a JSON merge patch (RFC 7386): ``None`` removes a key."""
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping):
            inner = merged.get(key)
            merged[key] = merge_patched(inner if isinstance(inner, Mapping) else {}, value)
        else:
            merged[key] = value
    return merged


def merge_fields(first: Mapping[str, Any], second: Mapping[str, Any]) -> dict[str, Any]:
    """One merge patch doing ``first`` then ``second`` (nested maps combined)."""
    out = dict(first)
    for key, value in second.items():
        earlier = out.get(key)
        if isinstance(value, Mapping) and isinstance(earlier, Mapping):
            out[key] = merge_fields(earlier, value)
        else:
            out[key] = value
    return out


def _differs(current: Mapping[str, Any], fields: Mapping[str, Any]) -> bool:
    return merge_patched(current, fields) != dict(current)


@dataclass(frozen=True, slots=True)
class StatusWrite:
    written: bool
    events: tuple[EventNote, ...] = ()


async def update_status(
    api: KubernetesApi,
    namespace: str,
    name: str,
    compute: StatusComputer,
    known: Mapping[str, Any] | None = None,
) -> StatusWrite:
    """Apply ``compute`` to the live status; what was written and the Events to post.

    ``known`` is a recent copy of the object (from a watch), with its
    ``resourceVersion``: if it asks for a write, the write is tried on it first and
    saves a GET -- the precondition makes a stale copy fail with a conflict, and the
    loop below starts over on the live object. A copy that asks for no write proves
    nothing (it may predate another writer's change) and is not trusted.
    """
    if known is not None:
        version = (known.get("metadata") or {}).get("resourceVersion")
        change = _change_of(compute, known)
        if (
            change is not None
            and version is not None
            and await _patch(api, namespace, name, change, str(version))
        ):
            return StatusWrite(written=True, events=change.events)
    for _ in range(MAX_ATTEMPTS):
        live = await api.get(MODELDEPLOYMENTS, namespace, name)
        if live is None:
            return StatusWrite(written=False)
        change = _change_of(compute, live)
        if change is None:
            return StatusWrite(written=False)
        if await _patch(api, namespace, name, change, live["metadata"]["resourceVersion"]):
            return StatusWrite(written=True, events=change.events)
        # Someone wrote in between: recompute on what they wrote.
    raise ConflictError(409, "Conflict", f"status of {namespace}/{name} kept changing; will retry")


def _change_of(compute: StatusComputer, obj: Mapping[str, Any]) -> StatusChange | None:
    """What ``compute`` changes in ``obj``'s status; ``None``: nothing."""
    current = dict(obj.get("status") or {})
    change = compute(current)
    if change is None or not _differs(current, change.fields):
        return None
    return change


async def _patch(
    api: KubernetesApi, namespace: str, name: str, change: StatusChange, version: str
) -> bool:
    """Write ``change`` if the object is still at ``version``; ``False`` on a conflict,
    or when it is gone (a copy can outlive a deletion): the caller reads it again."""
    patch = {"metadata": {"resourceVersion": version}, "status": change.fields}
    try:
        await api.merge_patch(MODELDEPLOYMENTS, namespace, name, patch, subresource="status")
    except (ConflictError, NotFoundError):
        return False
    return True
