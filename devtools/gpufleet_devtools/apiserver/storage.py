"""In-memory object storage with one global resourceVersion and a bounded event log.

Stored objects are never mutated in place: every write stores a fresh dict, so the
event log, watchers and list responses can share them without copying.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field

from gpufleet_devtools.apiserver.errors import JsonDict, gone
from gpufleet_devtools.apiserver.resources import ResourceKey

ObjectRef = tuple[ResourceKey, str, str]  # (resource key, namespace or "", name)


@dataclass(frozen=True)
class StoredEvent:
    """One change: the new (or last, for DELETED) object and the one it replaced."""

    resource_version: int
    resource: ResourceKey
    type: str  # ADDED, MODIFIED, DELETED
    obj: JsonDict
    old: JsonDict | None = field(default=None)


Listener = Callable[[StoredEvent], None]


def ref_of(resource: ResourceKey, obj: JsonDict) -> ObjectRef:
    meta = obj["metadata"]
    return (resource, meta.get("namespace") or "", meta["name"])


class ObjectStore:
    def __init__(self, event_log_limit: int = 50_000) -> None:
        self._rv = 0
        self._objects: dict[ResourceKey, dict[tuple[str, str], JsonDict]] = {}
        self._by_uid: dict[str, ObjectRef] = {}
        self._dependents: dict[str, set[ObjectRef]] = {}  # owner uid -> dependents
        self._log: list[StoredEvent] = []
        self._log_rvs: list[int] = []
        self._log_limit = event_log_limit
        # Every event with a resourceVersion above this one is still in the log.
        self._compacted_rv = 0
        self._listeners: list[Listener] = []

    @property
    def resource_version(self) -> int:
        return self._rv

    def next_resource_version(self) -> int:
        self._rv += 1
        return self._rv

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    # Reading.
    def get(self, resource: ResourceKey, namespace: str, name: str) -> JsonDict | None:
        return self._objects.get(resource, {}).get((namespace, name))

    def list_objects(self, resource: ResourceKey, namespace: str | None = None) -> list[JsonDict]:
        objects = self._objects.get(resource, {})
        if namespace is None:
            return list(objects.values())
        return [obj for (ns, _), obj in objects.items() if ns == namespace]

    def get_by_uid(self, uid: str) -> ObjectRef | None:
        return self._by_uid.get(uid)

    def dependents_of(self, owner_uid: str) -> list[ObjectRef]:
        return list(self._dependents.get(owner_uid, ()))

    def namespaces_in_use(self) -> dict[str, list[ObjectRef]]:
        result: dict[str, list[ObjectRef]] = {}
        for resource, objects in self._objects.items():
            for ns, name in objects:
                if ns:
                    result.setdefault(ns, []).append((resource, ns, name))
        return result

    # Writing.
    def put(self, resource: ResourceKey, obj: JsonDict, event_type: str) -> JsonDict:
        """Store ``obj`` (ADDED or MODIFIED) under a new resourceVersion; returns it stamped."""
        rv = self.next_resource_version()
        obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(rv)}}
        ref = ref_of(resource, obj)
        bucket = self._objects.setdefault(resource, {})
        old = bucket.get((ref[1], ref[2]))
        if old is not None:
            self._unindex(ref, old)
        bucket[(ref[1], ref[2])] = obj
        self._index(ref, obj)
        self._record(StoredEvent(rv, resource, event_type, obj, old))
        return obj

    def remove(self, resource: ResourceKey, namespace: str, name: str) -> JsonDict | None:
        """Delete for good; the DELETED event carries a new resourceVersion."""
        bucket = self._objects.get(resource, {})
        old = bucket.pop((namespace, name), None)
        if old is None:
            return None
        self._unindex((resource, namespace, name), old)
        rv = self.next_resource_version()
        last = {**old, "metadata": {**old["metadata"], "resourceVersion": str(rv)}}
        self._record(StoredEvent(rv, resource, "DELETED", last, old))
        return last

    def events_since(self, resource_version: int, resource: ResourceKey) -> list[StoredEvent]:
        """Events of ``resource`` after ``resource_version``; 410 Gone if already compacted."""
        if resource_version < self._compacted_rv:
            raise gone(f"too old resource version: {resource_version} ({self._compacted_rv})")
        start = bisect.bisect_right(self._log_rvs, resource_version)
        return [event for event in self._log[start:] if event.resource == resource]

    def _record(self, event: StoredEvent) -> None:
        self._log.append(event)
        self._log_rvs.append(event.resource_version)
        if len(self._log) > 2 * self._log_limit:
            # Compact in halves so that appending stays amortised O(1).
            dropped = len(self._log) - self._log_limit
            self._compacted_rv = self._log_rvs[dropped - 1]
            del self._log[:dropped]
            del self._log_rvs[:dropped]
        for listener in self._listeners:
            listener(event)

    def _index(self, ref: ObjectRef, obj: JsonDict) -> None:
        meta = obj["metadata"]
        self._by_uid[meta["uid"]] = ref
        for owner in meta.get("ownerReferences") or ():
            if "uid" in owner:
                self._dependents.setdefault(owner["uid"], set()).add(ref)

    def _unindex(self, ref: ObjectRef, obj: JsonDict) -> None:
        meta = obj["metadata"]
        self._by_uid.pop(meta["uid"], None)
        for owner in meta.get("ownerReferences") or ():
            dependents = self._dependents.get(owner.get("uid", ""))
            if dependents is not None:
                dependents.discard(ref)
                if not dependents:
                    del self._dependents[owner["uid"]]
