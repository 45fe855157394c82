"""Running the emulator: in the current event loop, or in a background thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import pathlib
import tempfile
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Self, TypeVar

import aiohttp.web
import kmock

from gpufleet_devtools.apiserver.cluster import Cluster
from gpufleet_devtools.apiserver.crds import load_crds
from gpufleet_devtools.apiserver.errors import JsonDict
from gpufleet_devtools.apiserver.handler import ApiServerHandler
from gpufleet_devtools.apiserver.kubeconfig import write_kubeconfig
from gpufleet_devtools.apiserver.patching import MERGE_PATCH
from gpufleet_devtools.apiserver.resources import ResourceType

T = TypeVar("T")
CrdSource = pathlib.Path | str | JsonDict
# Open watches end when the server stops; this only bounds stuck requests.
SHUTDOWN_TIMEOUT_SECONDS = 2.0


class EmulatedApiServer:
    """A Kubernetes API server emulator on a local port.

    Use ``with EmulatedApiServer(crds=[...]) as server:`` (a background thread with its
    own event loop) or ``async with`` (the current loop). ``server.url`` and
    ``server.kubeconfig_path`` point clients at it; ``get``/``list``/``create``/
    ``patch``/``patch_status``/``delete`` inspect and seed objects in-process, with the
    same semantics (validation, events) as over HTTP.
    """

    def __init__(
        self,
        crds: Iterable[CrdSource] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        kubeconfig_path: pathlib.Path | str | None = None,
        event_log_limit: int = 50_000,
    ) -> None:
        self.handler = ApiServerHandler(event_log_limit=event_log_limit)
        self._host, self._port = host, port
        self._kubeconfig_path = pathlib.Path(kubeconfig_path) if kubeconfig_path else None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._runner: aiohttp.web.ServerRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._url = ""
        for crd in self._crd_documents(crds):
            self.cluster.create(
                self.resource_type("apiextensions.k8s.io/v1/customresourcedefinitions"), None, crd
            )

    @staticmethod
    def _crd_documents(crds: Iterable[CrdSource]) -> list[JsonDict]:
        documents: list[JsonDict] = []
        for crd in crds:
            documents.extend([crd] if isinstance(crd, dict) else load_crds([crd]))
        return documents

    @property
    def cluster(self) -> Cluster:
        return self.handler.cluster

    @property
    def url(self) -> str:
        if not self._url:
            raise RuntimeError("the emulator is not running")
        return self._url

    @property
    def kubeconfig_path(self) -> pathlib.Path:
        if self._kubeconfig_path is None:
            raise RuntimeError("the emulator is not running")
        return self._kubeconfig_path

    # Running in the current loop.
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        await self.handler.__aenter__()
        # No access log: an operator under test logs at DEBUG, and a line per request of
        # its own API traffic would drown its logs (kmock records the requests anyway).
        web_server = aiohttp.web.Server(self.handler, access_log=None)
        self._runner = aiohttp.web.ServerRunner(
            web_server, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS
        )
        await self._runner.setup()
        site = aiohttp.web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._url = f"http://{host}:{port}"
        if self._kubeconfig_path is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="gpufleet-apiserver-")
            self._kubeconfig_path = pathlib.Path(self._tempdir.name) / "kubeconfig"
        write_kubeconfig(self._kubeconfig_path, self._url)

    async def stop(self) -> None:
        self.handler.close_watches()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.handler.__aexit__(None, None, None)
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir, self._kubeconfig_path = None, None
        self._url = ""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def wait_until_stop_requested(self) -> None:
        """Serve until :meth:`request_stop` (the CLI's SIGINT/SIGTERM handler), then stop."""
        assert self._stopping is not None, "start() first"
        try:
            await self._stopping.wait()
        finally:
            await self.stop()

    def request_stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)

    # Running in a background thread.
    def __enter__(self) -> Self:
        started: concurrent.futures.Future[None] = concurrent.futures.Future()

        async def main() -> None:
            try:
                await self.start()
            except BaseException as exc:
                started.set_exception(exc)
                raise
            started.set_result(None)
            assert self._stopping is not None
            await self._stopping.wait()
            await self.stop()

        self._thread = threading.Thread(
            target=asyncio.run, args=(main(),), name="gpufleet-apiserver", daemon=True
        )
        self._thread.start()
        started.result(timeout=30)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    # In-process accessors (run on the server's loop, whichever thread calls them).
    def _call(self, function: Callable[[], T]) -> T:
        loop = self._loop
        if loop is None or self._thread is None or threading.current_thread() is self._thread:
            return function()

        async def run() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=30)

    def resource_type(self, resource: str) -> ResourceType:
        """``'v1/pods'``, ``'apps/v1/deployments'``, ``'gpufleet.io/v1alpha1/modeldeployments'``."""
        parsed = kmock.resource(resource)
        return self.cluster.resolve(parsed.group or "", parsed.version or "", parsed.plural or "")

    def get(self, resource: str, name: str, namespace: str | None = None) -> JsonDict:
        rtype = self.resource_type(resource)
        return self._call(lambda: self.cluster.get(rtype, namespace, name))

    def list(self, resource: str, namespace: str | None = None) -> list[JsonDict]:
        rtype = self.resource_type(resource)
        return self._call(lambda: self.cluster.list_objects(rtype, namespace))

    def create(self, resource: str, body: JsonDict, namespace: str | None = None) -> JsonDict:
        rtype = self.resource_type(resource)
        return self._call(lambda: self.cluster.create(rtype, namespace, body))

    def patch(
        self,
        resource: str,
        name: str,
        patch: Any,
        namespace: str | None = None,
        content_type: str = MERGE_PATCH,
    ) -> JsonDict:
        rtype = self.resource_type(resource)
        return self._call(
            lambda: self.cluster.patch(rtype, namespace, name, content_type, patch)[0]
        )

    def patch_status(
        self, resource: str, name: str, status: JsonDict, namespace: str | None = None
    ) -> JsonDict:
        """Merge ``status`` in through the status subresource (as a controller would)."""
        rtype = self.resource_type(resource)
        subresource = "status" if rtype.has_status else None
        return self._call(
            lambda: self.cluster.patch(
                rtype, namespace, name, MERGE_PATCH, {"status": status}, subresource
            )[0]
        )

    def delete(
        self,
        resource: str,
        name: str,
        namespace: str | None = None,
        propagation: str | None = None,
    ) -> JsonDict:
        rtype = self.resource_type(resource)
        return self._call(lambda: self.cluster.delete(rtype, namespace, name, propagation))
