"""The garbage collector: dependents follow their owners (``metadata.ownerReferences``)."""

from __future__ import annotations

from collections.abc import Callable

from gpufleet_devtools.apiserver.storage import ObjectRef, ObjectStore

Scheduler = Callable[[Callable[[], None]], None]
Deleter = Callable[[ObjectRef, str], None]  # (object, propagationPolicy)


class GarbageCollector:
    def __init__(self, store: ObjectStore, delete: Deleter, schedule: Scheduler) -> None:
        self._store = store
        self._delete = delete
        # Background propagation: collection runs soon after the owner is gone, not within
        # the owner's DELETE request (the event loop's call_soon in the server).
        self._schedule = schedule

    def owner_removed(self, owner_uid: str, propagation: str) -> None:
        if propagation == "Orphan":
            self._orphan(owner_uid)
        else:
            self._schedule(lambda: self._collect(owner_uid))

    def _collect(self, owner_uid: str) -> None:
        """Delete the dependents whose owners are all gone; the others keep living."""
        for ref in self._store.dependents_of(owner_uid):
            obj = self._store.get(*ref)
            if obj is None:
                continue
            owners = obj["metadata"].get("ownerReferences") or []
            if any(self._store.get_by_uid(owner.get("uid", "")) for owner in owners):
                continue
            self._delete(ref, "Background")

    def _orphan(self, owner_uid: str) -> None:
        """Keep the dependents, minus their references to the deleted owner."""
        for ref in self._store.dependents_of(owner_uid):
            obj = self._store.get(*ref)
            if obj is None:
                continue
            owners = [
                o for o in obj["metadata"].get("ownerReferences") or [] if o.get("uid") != owner_uid
            ]
            meta = {**obj["metadata"], "ownerReferences": owners}
            if not owners:
                del meta["ownerReferences"]
            self._store.put(ref[0], {**obj, "metadata": meta}, "MODIFIED")
