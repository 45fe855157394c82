"""The API server's object semantics, independent of HTTP.

Create/replace/patch/delete with server-managed metadata, optimistic concurrency,
the status subresource, CRD registration, schema admission, finalizers and
ownerReference garbage collection. All methods are synchronous and must run on the
server's event loop thread (the store notifies watchers synchronously).
"""

from __future__ import annotations

import contextlib
import copy
import datetime
from collections.abc import Callable
from typing import Any

from gpufleet_devtools.apiserver import (
    builtin_schemas,
    conversions,
    errors,
    metadata,
    patching,
    validation,
)
from gpufleet_devtools.apiserver.errors import ApiError, JsonDict
from gpufleet_devtools.apiserver.gc import GarbageCollector, Scheduler
from gpufleet_devtools.apiserver.resources import (
    CRD_KEY,
    NAMESPACE_KEY,
    POD_KEY,
    ResourceKey,
    ResourceRegistry,
    ResourceType,
)
from gpufleet_devtools.apiserver.selectors import Predicate
from gpufleet_devtools.apiserver.storage import ObjectRef, ObjectStore

PROPAGATION_POLICIES = ("Background", "Foreground", "Orphan")
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public")


def _immediately(callback: Callable[[], None]) -> None:
    callback()


class Cluster:
    def __init__(
        self,
        registry: ResourceRegistry | None = None,
        store: ObjectStore | None = None,
        schedule: Scheduler = _immediately,
        on_types_changed: Callable[[], None] = lambda: None,
    ) -> None:
        self.registry = registry or ResourceRegistry()
        self.store = store or ObjectStore()
        # Garbage collection runs "in the background" via this hook (the loop's call_soon).
        self._schedule = schedule
        self._gc = GarbageCollector(self.store, self._delete_ref, schedule)
        self._on_types_changed = on_types_changed
        for name in DEFAULT_NAMESPACES:
            self.create(self.resolve("", "v1", "namespaces"), None, {"metadata": {"name": name}})

    # Types.
    def resolve(self, group: str, version: str, plural: str) -> ResourceType:
        rtype = self.registry.find(group, version, plural)
        if rtype is None:
            prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
            raise errors.resource_not_found(f"{prefix}/{plural}")
        return rtype

    def _type_of(self, key: ResourceKey) -> ResourceType | None:
        return self.registry.find(*key)

    # Reading.
    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> JsonDict:
        obj = self.store.get(rtype.key, self._ns(rtype, namespace), name)
        if obj is None:
            raise errors.not_found(rtype.plural, rtype.group, name)
        return obj

    def list_objects(
        self, rtype: ResourceType, namespace: str | None, predicate: Predicate | None = None
    ) -> list[JsonDict]:
        objects = self.store.list_objects(rtype.key, namespace if rtype.namespaced else None)
        if predicate is not None:
            objects = [obj for obj in objects if predicate(obj)]
        objects.sort(
            key=lambda obj: (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        )
        return objects

    # Writing.
    def create(
        self,
        rtype: ResourceType,
        namespace: str | None,
        body: Any,
        dry_run: bool = False,
        fields: validation.FieldValidation | None = None,
    ) -> JsonDict:
        if not isinstance(body, dict):
            raise errors.bad_request("the object must be a JSON object")
        obj = copy.deepcopy(body)
        meta = dict(obj.get("metadata") or {})
        namespace = self._target_namespace(rtype, namespace, meta)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = metadata.generated_name(meta["generateName"])
        causes = metadata.name_causes(meta.get("name"))
        if causes:
            raise errors.invalid(rtype.kind, rtype.group, str(meta.get("name", "")), causes)
        name = meta["name"]
        if namespace and self.store.get(NAMESPACE_KEY, "", namespace) is None:
            raise errors.not_found("namespaces", "", namespace)
        if self.store.get(rtype.key, namespace or "", name) is not None:
            raise errors.already_exists(rtype.plural, rtype.group, name)
        for key in (*metadata.SYSTEM_FIELDS, "resourceVersion", "managedFields"):
            meta.pop(key, None)
        meta.update(uid=metadata.new_uid(), creationTimestamp=metadata.timestamp(), generation=1)
        if namespace:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        obj["metadata"] = meta
        obj["apiVersion"], obj["kind"] = rtype.api_version, rtype.kind
        if rtype.has_status:
            # The status subresource ignores the status given on creation (as a real server).
            obj.pop("status", None)
        obj = self._server_side_defaults(rtype, obj)
        obj = self._admit(rtype, obj, None, fields)
        if dry_run:
            return obj
        stored = self.store.put(rtype.key, obj, "ADDED")
        if rtype.key == CRD_KEY:
            self.registry.register_crd(stored)
            self._on_types_changed()
        return stored

    def replace(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        subresource: str | None = None,
        dry_run: bool = False,
        fields: validation.FieldValidation | None = None,
    ) -> JsonDict:
        if not isinstance(body, dict):
            raise errors.bad_request("the object must be a JSON object")
        old = self.get(rtype, namespace, name)
        given_rv = (body.get("metadata") or {}).get("resourceVersion")
        body_name = (body.get("metadata") or {}).get("name")
        if body_name and body_name != name:
            raise errors.bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({name})"
            )
        return self._update(rtype, old, copy.deepcopy(body), given_rv, subresource, dry_run, fields)

    def patch(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        content_type: str,
        patch: Any,
        subresource: str | None = None,
        dry_run: bool = False,
        fields: validation.FieldValidation | None = None,
    ) -> tuple[JsonDict, bool]:
        """Returns the patched object and whether it was created (apply creates)."""
        ns = self._ns(rtype, namespace)
        old = self.store.get(rtype.key, ns, name)
        if old is None:
            if content_type == patching.APPLY_PATCH and subresource is None:
                applied = dict(patch) if isinstance(patch, dict) else {}
                applied["metadata"] = {**(applied.get("metadata") or {}), "name": name}
                return self.create(rtype, namespace, applied, dry_run, fields), True
            raise errors.not_found(rtype.plural, rtype.group, name)
        given_rv = None
        if isinstance(patch, dict):
            given_rv = (patch.get("metadata") or {}).get("resourceVersion")
        patched = patching.apply_any(content_type, old, patch)
        if not isinstance(patched, dict):
            raise ApiError(422, "Invalid", "the patched object is not a JSON object")
        updated = self._update(
            rtype, old, copy.deepcopy(patched), given_rv, subresource, dry_run, fields
        )
        return updated, False

    def delete(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        propagation: str | None = None,
        preconditions: JsonDict | None = None,
        dry_run: bool = False,
        grace_period_s: int | None = None,
    ) -> JsonDict:
        """``grace_period_s``: DeleteOptions' ``gracePeriodSeconds`` (pods only, as a real
        server: see :func:`_pod_grace_s`)."""
        old = self.get(rtype, namespace, name)
        if propagation is not None and propagation not in PROPAGATION_POLICIES:
            raise errors.bad_request(f"unsupported propagationPolicy: {propagation}")
        self._check_preconditions(rtype, old, preconditions or {})
        if dry_run:
            return old
        meta = old["metadata"]
        if propagation == "Foreground":
            # A real server keeps the owner (with a foregroundDeletion finalizer) until its
            # blocking dependents are gone; here the dependents simply go first, synchronously.
            for ref in self.store.dependents_of(meta["uid"]):
                self._delete_ref(ref, "Foreground")
        grace = _pod_grace_s(old, grace_period_s) if rtype.key == POD_KEY else 0
        if grace > 0:
            # A pod on a node is only marked: its kubelet stops it, then deletes it for good
            # (gracePeriodSeconds 0). A second request may shorten the grace, not lengthen it.
            given = meta.get("deletionGracePeriodSeconds")
            if meta.get("deletionTimestamp") and given is not None and given <= grace:
                return old
            due = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=grace)
            marked = {
                **meta,
                "deletionTimestamp": metadata.timestamp(due),
                "deletionGracePeriodSeconds": grace,
            }
            return self.store.put(rtype.key, {**old, "metadata": marked}, "MODIFIED")
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return old
            new = {
                **old,
                "metadata": {
                    **meta,
                    "deletionTimestamp": metadata.timestamp(),
                    "deletionGracePeriodSeconds": 0,
                },
            }
            return self.store.put(rtype.key, new, "MODIFIED")
        return self._remove(rtype, old, propagation or "Background")

    def delete_collection(
        self,
        rtype: ResourceType,
        namespace: str | None,
        predicate: Predicate | None,
        propagation: str | None = None,
    ) -> list[JsonDict]:
        return [
            self.delete(
                rtype, obj["metadata"].get("namespace"), obj["metadata"]["name"], propagation
            )
            for obj in self.list_objects(rtype, namespace, predicate)
        ]

    # Internals.
    def _ns(self, rtype: ResourceType, namespace: str | None) -> str:
        return (namespace or "") if rtype.namespaced else ""

    def _target_namespace(
        self, rtype: ResourceType, namespace: str | None, meta: JsonDict
    ) -> str | None:
        if not rtype.namespaced:
            return None
        body_ns = meta.get("namespace")
        if namespace and body_ns and body_ns != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        return namespace or body_ns or "default"

    def _check_preconditions(self, rtype: ResourceType, old: JsonDict, pre: JsonDict) -> None:
        meta = old["metadata"]
        if pre.get("uid") and pre["uid"] != meta["uid"]:
            raise errors.conflict(rtype.plural, rtype.group, meta["name"])
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
            raise errors.conflict(rtype.plural, rtype.group, meta["name"])

    def _update(
        self,
        rtype: ResourceType,
        old: JsonDict,
        new: JsonDict,
        given_rv: str | None,
        subresource: str | None,
        dry_run: bool,
        fields: validation.FieldValidation | None = None,
    ) -> JsonDict:
        old_meta = old["metadata"]
        name = old_meta["name"]
        if given_rv and given_rv != old_meta["resourceVersion"]:
            raise errors.conflict(rtype.plural, rtype.group, name)
        if subresource == "status":
            # The status subresource changes only the status; everything else is kept.
            new = {**old, "status": new.get("status")} if "status" in new else dict(old)
            if new.get("status") is None:
                new.pop("status", None)
        elif subresource is not None:
            raise errors.resource_not_found(f"{rtype.plural}/{subresource}")
        else:
            new_meta = metadata.carry_system_fields(dict(new.get("metadata") or {}), old_meta)
            new_meta["name"], new_meta["uid"] = name, old_meta["uid"]
            if old_meta.get("namespace"):
                new_meta["namespace"] = old_meta["namespace"]
            new_meta.pop("managedFields", None)
            self._check_finalizers(rtype, old_meta, new_meta)
            new["metadata"] = new_meta
            if rtype.has_status:
                # Writes to the main resource ignore the status (it has its own endpoint).
                new.pop("status", None)
                if "status" in old:
                    new["status"] = old["status"]
        new["apiVersion"], new["kind"] = rtype.api_version, rtype.kind
        new["metadata"] = {**new["metadata"], "resourceVersion": old_meta["resourceVersion"]}
        new = self._admit(rtype, new, old, fields)
        if rtype.spec_fields_of(new) != rtype.spec_fields_of(old):
            new["metadata"]["generation"] = int(old_meta.get("generation", 1)) + 1
        if new == old:
            return old  # a no-op write keeps the resourceVersion and sends no event
        if dry_run:
            return new
        meta = new["metadata"]
        # Its last finalizer released: gone -- unless a pod's grace runs (its kubelet deletes
        # it once stopped; status writes until then keep it).
        if (
            meta.get("deletionTimestamp")
            and not meta.get("finalizers")
            and not meta.get("deletionGracePeriodSeconds")
        ):
            return self._remove(rtype, new, "Background", update_first=True)
        stored = self.store.put(rtype.key, new, "MODIFIED")
        if rtype.key == CRD_KEY:
            self.registry.register_crd(stored)
            self._on_types_changed()
        return stored

    def _check_finalizers(
        self, rtype: ResourceType, old_meta: JsonDict, new_meta: JsonDict
    ) -> None:
        if not old_meta.get("deletionTimestamp"):
            return
        added = set(new_meta.get("finalizers") or ()) - set(old_meta.get("finalizers") or ())
        if added:
            raise errors.invalid(
                rtype.kind,
                rtype.group,
                old_meta["name"],
                [
                    errors.Cause(
                        "metadata.finalizers",
                        "Forbidden: no new finalizers can be added if the object is being "
                        f"deleted, found new finalizers {sorted(added)}",
                        "FieldValueForbidden",
                    )
                ],
            )

    def _admit(
        self,
        rtype: ResourceType,
        obj: JsonDict,
        old: JsonDict | None,
        fields: validation.FieldValidation | None = None,
    ) -> JsonDict:
        if rtype.schema is None:
            builtin = (
                None
                if rtype.is_custom
                else builtin_schemas.schema_of(rtype.group, rtype.version, rtype.kind)
            )
            if builtin is None:
                return obj
            self._report_unknown(rtype, builtin_schemas.unknown_fields(builtin, obj), fields)
            pruned = dict(builtin_schemas.prune(builtin, obj))
            return conversions.converted(rtype.group, rtype.version, rtype.kind, pruned)
        unknown = validation.unknown_fields(dict(rtype.schema), obj, root=True)
        self._report_unknown(rtype, unknown, fields)
        # Admission defaults in place: work on a copy, stored objects share nested dicts.
        admitted, causes = validation.admit(dict(rtype.schema), copy.deepcopy(obj), old)
        if causes:
            raise errors.invalid(rtype.kind, rtype.group, obj["metadata"]["name"], causes)
        return admitted

    @staticmethod
    def _report_unknown(
        rtype: ResourceType, unknown: list[str], fields: validation.FieldValidation | None
    ) -> None:
        """Strict: a 400 naming each unknown field; Warn: a warning each; Ignore: nothing."""
        if not unknown or fields is None or fields.mode == "Ignore":
            return
        named = [f'unknown field "{path}"' for path in unknown]
        if fields.mode == "Strict":
            raise errors.bad_request(
                f'{rtype.kind} in version "{rtype.version}" cannot be handled as a '
                f"{rtype.kind}: strict decoding error: {', '.join(named)}"
            )
        fields.warnings.extend(named)

    def _server_side_defaults(self, rtype: ResourceType, obj: JsonDict) -> JsonDict:
        if rtype.key == NAMESPACE_KEY:
            obj["status"] = {"phase": "Active"}
        elif rtype.key == CRD_KEY:
            names = (obj.get("spec") or {}).get("names") or {}
            versions = [
                v.get("name")
                for v in (obj.get("spec") or {}).get("versions") or []
                if v.get("storage")
            ]
            now = metadata.timestamp()
            obj["status"] = {
                "acceptedNames": names,
                "storedVersions": versions,
                "conditions": [
                    {
                        "type": kind,
                        "status": "True",
                        "reason": reason,
                        "message": message,
                        "lastTransitionTime": now,
                    }
                    for kind, reason, message in (
                        ("NamesAccepted", "NoConflicts", "no conflicts found"),
                        (
                            "Established",
                            "InitialNamesAccepted",
                            "the initial names have been accepted",
                        ),
                    )
                ],
            }
        return obj

    def _remove(
        self, rtype: ResourceType, obj: JsonDict, propagation: str, update_first: bool = False
    ) -> JsonDict:
        meta = obj["metadata"]
        if update_first:
            # The write that released the last finalizer is visible as one MODIFIED event.
            self.store.put(rtype.key, obj, "MODIFIED")
        gone = self.store.remove(rtype.key, meta.get("namespace") or "", meta["name"])
        last = gone if gone is not None else obj
        uid = meta["uid"]
        self._gc.owner_removed(uid, propagation)
        if rtype.key == CRD_KEY:
            self._drop_crd(last)
        elif rtype.key == NAMESPACE_KEY:
            self._schedule(lambda: self._empty_namespace(meta["name"]))
        return last

    def _delete_ref(self, ref: ObjectRef, propagation: str) -> None:
        rtype = self._type_of(ref[0])
        if rtype is None or self.store.get(*ref) is None:
            return
        with contextlib.suppress(ApiError):  # deleted meanwhile: nothing left to collect
            self.delete(rtype, ref[1] or None, ref[2], propagation)

    def _drop_crd(self, crd: JsonDict) -> None:
        """A deleted CRD takes its custom resources (and its API endpoints) with it."""
        keys = self.registry.unregister_crd(crd["metadata"]["name"])
        for key in keys:
            for obj in self.store.list_objects(key):
                self.store.remove(
                    key, obj["metadata"].get("namespace") or "", obj["metadata"]["name"]
                )
        self._on_types_changed()

    def _empty_namespace(self, namespace: str) -> None:
        """A deleted namespace's objects are deleted too (a real server keeps the namespace
        Terminating until they are gone; here it disappears at once)."""
        for ref in self.store.namespaces_in_use().get(namespace, []):
            self._delete_ref(ref, "Background")


DEFAULT_POD_GRACE_S = 30
"""``spec.terminationGracePeriodSeconds``'s default."""


def _pod_grace_s(pod: JsonDict, requested: int | None) -> int:
    """The grace a real server gives a pod's deletion: none for a pod no node runs (not
    bound, or finished); else the request's, or the pod's own ``terminationGracePeriodSeconds``."""
    spec = pod.get("spec") or {}
    phase = (pod.get("status") or {}).get("phase")
    if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
        return 0
    if requested is not None:
        return max(0, int(requested))
    return int(spec.get("terminationGracePeriodSeconds", DEFAULT_POD_GRACE_S))
