"""The HTTP face of the emulator: a kmock ``KubernetesScaffold`` serving the cluster.

kmock parses and records the requests, renders the discovery scaffold and lets tests
inject reactions with its DSL (``handler['get /api/v1/pods'] << 500``): a matching user
reaction wins over the emulated API. Everything a real API server does for resources
(``/api/v1/...`` and ``/apis/{group}/{version}/...``) is served by :class:`Cluster`.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp.web
import attrs
import kmock
import yaml

from gpufleet_devtools.apiserver import discovery, openapi, patching, tables, validation
from gpufleet_devtools.apiserver.cluster import Cluster
from gpufleet_devtools.apiserver.errors import (
    ApiError,
    JsonDict,
    bad_request,
    method_not_allowed,
    unsupported_media_type,
)
from gpufleet_devtools.apiserver.paging import paginate
from gpufleet_devtools.apiserver.resources import ResourceType
from gpufleet_devtools.apiserver.routing import Target, parse_target
from gpufleet_devtools.apiserver.selectors import Predicate, make_predicate
from gpufleet_devtools.apiserver.storage import ObjectStore
from gpufleet_devtools.apiserver.watch import WatchHub, WatchRequest

# kmock keeps every request for assertions; a long-running server keeps only the latest.
REQUEST_HISTORY_LIMIT = 256
HOLD_LIMIT_S = 60.0
"""The longest a held request waits for its release (see ApiServerHandler.hold)."""
_NAMESPACES_COLLECTION = re.compile(r"^/(api|apis/[^/]+)/[^/]+/namespaces/?$")
_YAML_TYPES = ("application/yaml", "application/apply-patch+yaml", "application/x-yaml")


@attrs.frozen
class Access:
    """One request as RBAC authorizes it (an audit log's ``verb``/``objectRef``), by client."""

    user_agent: str
    verb: str
    api_group: str
    resource: str
    """The plural, with ``/subresource`` when one is addressed (``modeldeployments/status``)."""


def _verb(method: str, target: Target, params: Any) -> str:
    """The Kubernetes verb of a request (apiserver's RequestInfo rules)."""
    if method == "GET":
        if _flag(params.get("watch")):
            return "watch"
        return "get" if target.name else "list"
    if method == "DELETE":
        return "delete" if target.name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def _not_found_in_discovery(path: str) -> ApiError:
    return ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")


def _json(payload: Any, status: int = 200, warnings: Sequence[str] = ()) -> aiohttp.web.Response:
    response = aiohttp.web.Response(
        body=json.dumps(payload, separators=(",", ":")).encode(),
        status=status,
        content_type="application/json",
    )
    for warning in warnings:
        # RFC 7234 warn-code 299 "miscellaneous persistent warning", as the API server sends.
        response.headers.add("Warning", f'299 - "{_quoted(warning)}"')
    return response


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _field_validation(params: Any) -> validation.FieldValidation:
    try:
        return validation.FieldValidation.from_query(params.get("fieldValidation"))
    except ValueError as exc:
        raise bad_request(str(exc)) from exc


def _flag(value: str | None) -> bool:
    """Boolean query parameters as Go's strconv.ParseBool reads them (clients send "True")."""
    return value in ("1", "t", "T", "true", "TRUE", "True")


@attrs.define(kw_only=True)
class ApiServerHandler(kmock.KubernetesScaffold):
    # Watches may resume this many changes back; older resourceVersions get 410 Gone.
    event_log_limit: int = 50_000
    gc_delay_s: float = 0.0
    """How long garbage collection waits after an owner is deleted. A real cluster's
    collector works in the background, from its informers: the owner is gone at once and
    its dependents a moment later, often seconds under load
    (https://kubernetes.io/docs/concepts/architecture/garbage-collection/#background-deletion).
    Tests set it to open that window."""
    cluster: Cluster = attrs.field(init=False)
    hub: WatchHub = attrs.field(init=False)
    accesses: set[Access] = attrs.field(init=False, factory=set)
    """Every distinct (client, verb, resource) served: what RBAC would have to grant."""
    holds: dict[tuple[str, str], threading.Event] = attrs.field(init=False, factory=dict)
    """Requests (method, path) answered only once their event is set: a slow API server or
    admission webhook, as tests use it to open a race window. See :meth:`hold`."""

    def hold(self, method: str, path: str) -> threading.Event:
        """Answer the next ``method`` request on ``path`` (as the emulator would) only once
        the returned event is set (or ``HOLD_LIMIT_S`` passed); later ones are not held.
        Thread-safe to set from a test."""
        released = threading.Event()
        self.holds[(method.upper(), path)] = released
        return released

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.cluster = Cluster(
            store=ObjectStore(self.event_log_limit),
            schedule=self._schedule,
            on_types_changed=self._sync_discovery,
        )
        self.hub = WatchHub(self.cluster.store)
        self._sync_discovery()

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        # kmock 0.8's URL parser raises on a bare ``.../namespaces`` collection URL (it reads
        # "namespaces" as the start of ``namespaces/{ns}/...``). An empty path segment in front
        # parses fine there, and our own routing (parse_target) ignores empty segments.
        if _NAMESPACES_COLLECTION.match(raw_request.path):
            path = raw_request.path.removesuffix("/")
            raw_request = raw_request.clone(
                rel_url=raw_request.rel_url.with_path(path[: -len("namespaces")] + "/namespaces")
            )
        response: aiohttp.web.StreamResponse = await super().__call__(raw_request)
        return response

    # Hooks for the cluster.
    def _schedule(self, callback: Callable[[], None]) -> None:
        try:
            asyncio.get_running_loop().call_later(self.gc_delay_s, callback)
        except RuntimeError:  # no loop yet (seeding before start): run it now
            callback()

    def _sync_discovery(self) -> None:
        """Mirror the served types into kmock's resource registry (``handler.resources``)."""
        self.resources.clear()
        for rtype in self.cluster.registry:
            self.resources[f"{rtype.group}/{rtype.version}/{rtype.plural}"] = kmock.ResourceInfo(
                namespaced=rtype.namespaced,
                kind=rtype.kind,
                singular=rtype.singular,
                verbs=set(rtype.verbs),
                shortnames=set(rtype.short_names),
                categories=set(rtype.categories),
                subresources={"status"} if rtype.has_status else set(),
            )

    def close_watches(self) -> None:
        self.hub.close_all()

    # Discovery (the scaffold routes these paths to these methods).
    async def _serve_server_version(self, request: kmock.Request) -> JsonDict:
        return discovery.SERVER_VERSION

    async def _serve_api(self, request: kmock.Request) -> JsonDict:
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}

    async def _serve_apis(self, request: kmock.Request) -> JsonDict:
        return discovery.api_groups(self.cluster.registry)

    async def _serve_group(self, request: kmock.Request) -> JsonDict:
        group = request.url.path.strip("/").split("/")[1]
        document = discovery.api_group(self.cluster.registry, group)
        if document is None:
            raise _not_found_in_discovery(request.url.path)
        return document

    async def _serve_version(self, request: kmock.Request) -> JsonDict:
        parts = request.url.path.strip("/").split("/")
        group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
        document = discovery.api_resources(self.cluster.registry, group, version)
        if document is None:
            raise _not_found_in_discovery(request.url.path)
        return document

    def _serve_openapi(self, path: str) -> aiohttp.web.StreamResponse:
        if path == openapi.ROOT:
            return _json(openapi.root_document(self.cluster.registry))
        document = openapi.group_version_document(
            self.cluster.registry, path.removeprefix(openapi.ROOT + "/")
        )
        if document is None:
            return _json(_not_found_in_discovery(path).status(), 404)
        return _json(document)

    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        if isinstance(exc, ApiError):
            return _json(exc.status(), exc.code)
        response: aiohttp.web.StreamResponse = await super()._render_error(exc)
        return response

    # Dispatching.
    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        self._trim_history()
        if request.url.path.rstrip("/").startswith(openapi.ROOT):
            return self._serve_openapi(request.url.path.rstrip("/"))
        target = parse_target(request.url.path)
        if target is not None:
            resource = target.plural + (f"/{target.subresource}" if target.subresource else "")
            user_agent = str(request.headers.get("User-Agent", ""))
            verb = _verb(str(request.method.value).upper(), target, request.params)
            self.accesses.add(Access(user_agent, verb, target.group, resource))
        if target is None or self._user_reaction_matches(request):
            response: aiohttp.web.StreamResponse = await super()._handle(request)
            return response
        released = self.holds.pop((str(request.method.value).upper(), request.url.path), None)
        if released is not None:
            # Bounded: a test that never releases it must not hang the server's shutdown.
            await asyncio.get_running_loop().run_in_executor(None, released.wait, HOLD_LIMIT_S)
        try:
            return await self._serve(request, target)
        except ApiError as error:
            return _json(error.status(), error.code)

    def _trim_history(self) -> None:
        # Reaching into kmock's request logs: it keeps everything for assertions in
        # short tests, and its request matching walks that history on every request.
        del self._requests[:-REQUEST_HISTORY_LIMIT]
        for payload in self._payloads:
            del payload._requests[:-REQUEST_HISTORY_LIMIT]
        for errors in self._errors:
            del errors[:-REQUEST_HISTORY_LIMIT]

    def _user_reaction_matches(self, request: kmock.Request) -> bool:
        """Whether a test injected a (non-fallback) kmock reaction for this request."""
        for payload in self._payloads:
            if payload.priorities[:1] == (-math.inf,) or payload._disabled.is_set():
                continue
            if request in payload._source:
                return True
        return False

    async def _serve(self, request: kmock.Request, target: Target) -> aiohttp.web.StreamResponse:
        rtype = self.cluster.resolve(target.group, target.version, target.plural)
        if target.namespace is not None and not rtype.namespaced:
            raise _not_found_in_discovery(request.url.path)
        if target.subresource not in (None, "status") or (
            target.subresource == "status" and not rtype.has_status
        ):
            raise _not_found_in_discovery(request.url.path)
        method = str(request.method.value).upper()
        params = request.params
        if method == "GET":
            if _flag(params.get("watch")):
                return await self._watch(request, rtype, target)
            if target.name:
                obj = self.cluster.get(rtype, target.namespace, target.name)
                return self._respond_objects(request, rtype, [obj], single=True)
            return self._list(request, rtype, target)
        dry_run = bool(params.get("dryRun"))
        if method == "POST" and not target.name:
            body = self._body(request)
            fields = _field_validation(params)
            created = self.cluster.create(rtype, target.namespace, body, dry_run, fields)
            return _json(created, 201, fields.warnings)
        if method == "PUT" and target.name:
            body = self._body(request)
            fields = _field_validation(params)
            replaced = self.cluster.replace(
                rtype, target.namespace, target.name, body, target.subresource, dry_run, fields
            )
            return _json(replaced, 200, fields.warnings)
        if method == "PATCH" and target.name:
            return self._patch(request, rtype, target, dry_run)
        if method == "DELETE":
            return self._delete(request, rtype, target, dry_run)
        raise method_not_allowed(f"{method} is not supported on {request.url.path}")

    def _content_type(self, request: kmock.Request) -> str:
        header = request.headers.get("Content-Type") or "application/json"
        return str(header).split(";")[0].strip().lower()

    def _body(self, request: kmock.Request) -> Any:
        raw: bytes = request.body
        if not raw.strip():
            return None
        content_type = self._content_type(request)
        try:
            if content_type in _YAML_TYPES:
                return _int64_or_float(yaml.safe_load(raw))
            if "protobuf" in content_type:
                raise unsupported_media_type("protobuf is not supported by the emulator; use JSON")
            return json.loads(raw, parse_int=_json_int)
        except (ValueError, yaml.YAMLError) as exc:
            raise bad_request(f"the body of the request could not be decoded: {exc}") from exc

    def _predicate(self, request: kmock.Request, target: Target) -> Predicate | None:
        field_selector = request.params.get("fieldSelector") or ""
        if target.name:
            field_selector = ",".join(
                filter(None, [field_selector, f"metadata.name={target.name}"])
            )
        return make_predicate(request.params.get("labelSelector"), field_selector)

    def _list(
        self, request: kmock.Request, rtype: ResourceType, target: Target
    ) -> aiohttp.web.StreamResponse:
        predicate = self._predicate(request, target)
        ordered = self.cluster.list_objects(rtype, target.namespace, predicate)
        page = paginate(ordered, request.params.get("limit"), request.params.get("continue"))
        if tables.wants_table(request.headers.get("Accept", "")):
            return self._respond_objects(
                request, rtype, page.items, continue_token=page.continue_token
            )
        meta: JsonDict = {"resourceVersion": str(self.cluster.store.resource_version)}
        if page.continue_token:
            meta.update({"continue": page.continue_token, "remainingItemCount": page.remaining})
        return _json(
            {
                "kind": f"{rtype.kind}List",
                "apiVersion": rtype.api_version,
                "metadata": meta,
                "items": page.items,
            }
        )

    def _respond_objects(
        self,
        request: kmock.Request,
        rtype: ResourceType,
        objects: list[JsonDict],
        single: bool = False,
        continue_token: str = "",
    ) -> aiohttp.web.StreamResponse:
        if tables.wants_table(request.headers.get("Accept", "")):
            table = tables.render_table(
                rtype,
                objects,
                str(self.cluster.store.resource_version),
                include_object=request.params.get("includeObject", "Metadata"),
            )
            if continue_token:
                table["metadata"]["continue"] = continue_token
            return _json(table)
        return _json(objects[0] if single else objects)

    def _patch(
        self, request: kmock.Request, rtype: ResourceType, target: Target, dry_run: bool
    ) -> aiohttp.web.StreamResponse:
        assert target.name is not None
        content_type = self._content_type(request)
        if content_type not in patching.PATCH_TYPES:
            raise unsupported_media_type(
                f"the body of the request was in an unknown format ({content_type})"
                f"; accepted media types: {', '.join(patching.PATCH_TYPES)}"
            )
        if content_type == patching.APPLY_PATCH and not request.params.get("fieldManager"):
            raise bad_request("fieldManager is required for apply requests")
        fields = _field_validation(request.params)
        obj, created = self.cluster.patch(
            rtype,
            target.namespace,
            target.name,
            content_type,
            self._body(request),
            target.subresource,
            dry_run,
            fields,
        )
        return _json(obj, 201 if created else 200, fields.warnings)

    def _delete(
        self, request: kmock.Request, rtype: ResourceType, target: Target, dry_run: bool
    ) -> aiohttp.web.StreamResponse:
        options = self._body(request) if self._content_type(request).endswith("json") else None
        options = options if isinstance(options, dict) else {}
        propagation = options.get("propagationPolicy") or request.params.get("propagationPolicy")
        orphan = options.get("orphanDependents", request.params.get("orphanDependents"))
        if propagation is None and orphan in (True, "true"):
            propagation = "Orphan"
        dry_run = dry_run or bool(options.get("dryRun"))
        if target.name is None:
            deleted = self.cluster.delete_collection(
                rtype, target.namespace, self._predicate(request, target), propagation
            )
            return _json(
                {
                    "kind": f"{rtype.kind}List",
                    "apiVersion": rtype.api_version,
                    "metadata": {},
                    "items": deleted,
                }
            )
        grace = options.get("gracePeriodSeconds", request.params.get("gracePeriodSeconds"))
        return _json(
            self.cluster.delete(
                rtype,
                target.namespace,
                target.name,
                propagation,
                options.get("preconditions"),
                dry_run,
                _grace_period_s(grace),
            )
        )

    def _table_presenter(
        self, request: kmock.Request, rtype: ResourceType
    ) -> Callable[[JsonDict], JsonDict] | None:
        if not tables.wants_table(request.headers.get("Accept", "")):
            return None
        include = request.params.get("includeObject", "Metadata")

        def one_row_table(obj: JsonDict) -> JsonDict:
            version = obj["metadata"].get("resourceVersion", "")
            return tables.render_table(rtype, [obj], version, include_object=include)

        return one_row_table

    async def _watch(
        self, request: kmock.Request, rtype: ResourceType, target: Target
    ) -> aiohttp.web.StreamResponse:
        params = request.params
        timeout = params.get("timeoutSeconds")
        watch_request = WatchRequest(
            resource=rtype.key,
            kind=rtype.kind,
            api_version=rtype.api_version,
            namespace=target.namespace if rtype.namespaced else None,
            predicate=self._predicate(request, target),
            resource_version=params.get("resourceVersion"),
            send_initial_events=_flag(params.get("sendInitialEvents")),
            allow_bookmarks=_flag(params.get("allowWatchBookmarks")),
            timeout_seconds=float(timeout) if timeout else None,
            present=self._table_presenter(request, rtype),
        )
        raw_request = request._raw_request
        assert raw_request is not None  # None only for hand-made requests in kmock's own tests
        response = aiohttp.web.StreamResponse(status=200)
        response.content_type = "application/json"
        response.enable_chunked_encoding()
        await response.prepare(raw_request)

        def disconnected() -> bool:
            transport = raw_request.transport
            return transport is None or transport.is_closing()

        try:
            async for chunk in self.hub.stream(watch_request, disconnected):
                await response.write(chunk)
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the client went away mid-stream
        return response


_INT64 = range(-(2**63), 2**63)


def _json_int(text: str) -> int | float:
    """A JSON integer as the API server decodes it: an int64, else a float64."""
    number = int(text)
    return number if number in _INT64 else float(number)


def _int64_or_float(value: Any) -> Any:
    """:func:`_json_int` on every integer of a decoded YAML document."""
    if isinstance(value, dict):
        return {key: _int64_or_float(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_int64_or_float(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        return float(value)
    return value


def _grace_period_s(value: Any) -> int | None:
    """DeleteOptions' ``gracePeriodSeconds`` (body or query), or a 400 naming it."""
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"gracePeriodSeconds: {value!r} is not an integer") from None
