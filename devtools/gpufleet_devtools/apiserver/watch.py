"""Watch streams: replay from the event log, then live events, as the API server does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from gpufleet_devtools.apiserver.errors import ApiError, JsonDict
from gpufleet_devtools.apiserver.resources import ResourceKey
from gpufleet_devtools.apiserver.selectors import Predicate
from gpufleet_devtools.apiserver.storage import ObjectStore, StoredEvent

# How often an idle stream checks whether its client went away or the server stops.
IDLE_CHECK_SECONDS = 1.0
# Idle watches that allow bookmarks get one this often (a real server: about a minute).
BOOKMARK_INTERVAL_SECONDS = 30.0


@dataclass(frozen=True)
class WatchRequest:
    resource: ResourceKey
    kind: str
    api_version: str
    namespace: str | None  # None: all namespaces
    predicate: Predicate | None
    resource_version: str | None
    send_initial_events: bool = False
    allow_bookmarks: bool = False
    timeout_seconds: float | None = None
    # How objects are shown (kubectl's ``get -w`` asks for one-row Tables); None: as stored.
    present: Callable[[JsonDict], JsonDict] | None = None


@dataclass(eq=False)
class _Watcher:
    request: WatchRequest
    queue: asyncio.Queue[StoredEvent | None] = field(default_factory=asyncio.Queue)


def _encode(event_type: str, obj: JsonDict, request: WatchRequest | None = None) -> bytes:
    if request is not None and request.present is not None:
        obj = request.present(obj)
    return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"


class WatchHub:
    """Fans store events out to the open watch streams of the same resource."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self._watchers: dict[ResourceKey, set[_Watcher]] = {}
        store.subscribe(self._publish)

    def _publish(self, event: StoredEvent) -> None:
        for watcher in self._watchers.get(event.resource, ()):
            watcher.queue.put_nowait(event)

    def close_all(self) -> None:
        for watchers in self._watchers.values():
            for watcher in watchers:
                watcher.queue.put_nowait(None)

    def _matches(self, request: WatchRequest, obj: JsonDict | None) -> bool:
        if obj is None:
            return False
        if request.namespace is not None and obj["metadata"].get("namespace") != request.namespace:
            return False
        return request.predicate is None or request.predicate(obj)

    def _convert(self, request: WatchRequest, event: StoredEvent) -> bytes | None:
        """The event as this watcher sees it: objects entering or leaving its selection
        show up as ADDED or DELETED, like the API server's watch cache does."""
        now_matches = self._matches(request, event.obj)
        if event.type == "DELETED":
            return _encode("DELETED", event.obj, request) if now_matches else None
        was_matching = event.type == "MODIFIED" and self._matches(request, event.old)
        if now_matches:
            return _encode("MODIFIED" if was_matching else "ADDED", event.obj, request)
        return _encode("DELETED", event.obj, request) if was_matching else None

    def _initial(self, request: WatchRequest) -> list[bytes]:
        objects = self._store.list_objects(request.resource, request.namespace)
        chunks = [
            _encode("ADDED", obj, request)
            for obj in sorted(
                objects, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])
            )
            if request.predicate is None or request.predicate(obj)
        ]
        if request.send_initial_events:
            chunks.append(self._bookmark(request, {"k8s.io/initial-events-end": "true"}))
        return chunks

    def _bookmark(self, request: WatchRequest, annotations: dict[str, str] | None = None) -> bytes:
        """A BOOKMARK: every change up to the current resourceVersion has been sent."""
        meta: JsonDict = {"resourceVersion": str(self._store.resource_version)}
        if annotations:
            meta["annotations"] = annotations
        return _encode(
            "BOOKMARK", {"kind": request.kind, "apiVersion": request.api_version, "metadata": meta}
        )

    async def stream(
        self, request: WatchRequest, disconnected: Callable[[], bool]
    ) -> AsyncIterator[bytes]:
        """Yield JSON lines until the timeout, the client leaves, or the server closes."""
        watcher = _Watcher(request)
        # Snapshot and subscription happen with no await in between, so nothing is lost.
        try:
            backlog = self._backlog(request)
        except ApiError as error:
            yield _encode("ERROR", error.status())
            return
        self._watchers.setdefault(request.resource, set()).add(watcher)
        try:
            for chunk in backlog:
                yield chunk
            loop = asyncio.get_running_loop()
            deadline = loop.time() + request.timeout_seconds if request.timeout_seconds else None
            next_bookmark = loop.time() + BOOKMARK_INTERVAL_SECONDS
            while True:
                wait = IDLE_CHECK_SECONDS
                if deadline is not None:
                    wait = min(wait, deadline - loop.time())
                    if wait <= 0:
                        # Ending with a bookmark lets the client resume from a fresh version
                        # even if nothing it watches changed (no 410 after compaction).
                        if request.allow_bookmarks:
                            yield self._bookmark(request)
                        return
                try:
                    async with asyncio.timeout(wait):
                        event = await watcher.queue.get()
                except TimeoutError:
                    if disconnected():
                        return
                    if request.allow_bookmarks and loop.time() >= next_bookmark:
                        next_bookmark = loop.time() + BOOKMARK_INTERVAL_SECONDS
                        yield self._bookmark(request)
                    continue
                if event is None:
                    return
                converted = self._convert(request, event)
                if converted is not None:
                    yield converted
        finally:
            self._watchers[request.resource].discard(watcher)

    def _backlog(self, request: WatchRequest) -> list[bytes]:
        rv = request.resource_version
        if rv in (None, "", "0") or request.send_initial_events:
            return self._initial(request)
        try:
            since = int(rv)
        except ValueError as exc:
            raise ApiError(400, "BadRequest", f"invalid resource version: {rv!r}") from exc
        chunks = []
        for event in self._store.events_since(since, request.resource):
            chunk = self._convert(request, event)
            if chunk is not None:
                chunks.append(chunk)
        return chunks
