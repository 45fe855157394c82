"""The local node agent: plays kubelet (and the ReplicaSet controller) for gpufleet's Deployments.

It watches the Deployments the operator manages and keeps ``spec.replicas`` real
server processes per Deployment, writing what a cluster would show: Pod objects
(labels, owner, phase, Ready from ``/v2/health/ready``), the Deployment's status,
Events when a process dies, and scrape targets for Prometheus.

Scale-in drains like a Service would: the pod turns unready first (clients stop
picking it), then, after ``drain_delay_s``, SIGTERM lets the server finish what it
holds before exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from pathlib import Path
from typing import Any

import aiohttp

from gpufleet.domain.manifests.identity import MANAGED_BY, OWNER_LABEL
from gpufleet.k8s.client import KubernetesApi
from gpufleet.k8s.errors import ConflictError, NotFoundError
from gpufleet_devtools.local.initcontainers import InitSequence
from gpufleet_devtools.local.initplan import plan_init_containers
from gpufleet_devtools.local.kube import (
    DEPLOYMENTS,
    EVENTS,
    LOCAL_FIELD_MANAGER,
    PODS,
    watch_deployments,
)
from gpufleet_devtools.local.localpod import LocalPod
from gpufleet_devtools.local.podobjects import (
    deployment_status,
    now_iso,
    pod_event,
    pod_manifest,
    pod_name,
    pod_status,
    template_hash,
)
from gpufleet_devtools.local.podplan import PodPlanError, empty_dirs, plan_process
from gpufleet_devtools.local.process import ServerProcess
from gpufleet_devtools.local.targets import TargetSink
from gpufleet_devtools.processes import free_port
from gpufleet_devtools.prometheus import ScrapeTarget

log = logging.getLogger(__name__)

Key = tuple[str, str]
MANAGED_SELECTOR = f"app.kubernetes.io/managed-by={MANAGED_BY}"
DRAIN_DELAY_S = 2.0
"""Longer than the load generator's endpoint refresh, like a preStop pause."""
SYNC_INTERVAL_S = 0.5
WATCH_RETRY_S = 1.0


class NodeAgent:
    def __init__(
        self,
        kube: KubernetesApi,
        volumes: Path,
        logs: Path,
        targets: TargetSink,
        *,
        start_delay_s: float = 0.0,
        drain_delay_s: float = DRAIN_DELAY_S,
        exit_grace_s: float = 30.0,
        runtime_dir: Path | None = None,
    ) -> None:
        self._kube = kube
        self._volumes = volumes
        self._logs = logs
        self._runtime_dir = runtime_dir or logs.parent / "runtime"
        self._targets = targets
        self.start_delay_s = start_delay_s
        self.drain_delay_s = drain_delay_s
        self.exit_grace_s = exit_grace_s
        self._deployments: dict[Key, dict[str, Any]] = {}
        self._pods: dict[Key, list[LocalPod]] = {}
        self._written_deployment_status: dict[Key, dict[str, Any]] = {}
        self._published: list[ScrapeTarget] | None = None
        self._draining: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None

    # Running.
    async def run(self) -> None:
        """Watch and sync until cancelled; then stop every pod it started."""
        self._session = aiohttp.ClientSession()
        watcher = asyncio.create_task(self._watch(), name="gpufleet-local-watch")
        try:
            while True:
                await self.sync_once()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(SYNC_INTERVAL_S):
                        await self._wake.wait()
                self._wake.clear()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await self.shutdown()

    async def _watch(self) -> None:
        while True:
            try:
                async for kind, obj in watch_deployments(self._kube, MANAGED_SELECTOR):
                    meta = obj.get("metadata") or {}
                    key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
                    if kind == "DELETED":
                        self._deployments.pop(key, None)
                    elif kind in ("ADDED", "MODIFIED"):
                        self._deployments[key] = obj
                    self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the API server went away or restarted
                log.warning("deployment watch failed (%.200s); retrying", error)
                await asyncio.sleep(WATCH_RETRY_S)

    async def sync_once(self) -> None:
        for key in sorted(set(self._deployments) | set(self._pods)):
            try:
                await self._sync_deployment(key)
            except Exception:
                log.exception("syncing deployment %s/%s failed", *key)
        self._publish_targets()

    async def shutdown(self) -> None:
        """Stop every pod (drained with SIGTERM), remove their objects and targets."""
        for task in list(self._draining):
            task.cancel()
        pods = [pod for pods in self._pods.values() for pod in pods]
        await asyncio.gather(
            *(pod.process.terminate(self.exit_grace_s) for pod in pods if pod.process),
            *(pod.init.stop(self.exit_grace_s) for pod in pods if pod.init),
            return_exceptions=True,
        )
        for pod in pods:
            with contextlib.suppress(Exception):
                await self._delete_pod(pod, grace_s=0)
            self._remove_empty_dirs(pod)
        self._pods.clear()
        self._targets.set_targets([])
        if self._session is not None:
            await self._session.close()
            self._session = None

    # What the agent runs, for status views and tests.
    @property
    def volumes(self) -> Path:
        return self._volumes

    def pods(self, namespace: str, deployment: str) -> list[LocalPod]:
        return list(self._pods.get((namespace, deployment), []))

    def all_pods(self) -> list[LocalPod]:
        return [pod for pods in self._pods.values() for pod in pods]

    # One Deployment.
    async def _sync_deployment(self, key: Key) -> None:
        deployment = self._deployments.get(key)
        pods = self._pods.setdefault(key, [])
        active = [pod for pod in pods if not pod.terminating]
        for pod in active:
            await self._tend(pod)
        await self._probe(active)
        if deployment is not None:
            await self._scale(key, deployment, active)
        else:
            for pod in active:
                await self._start_draining(key, pod)
        for pod in pods:
            await self._write_pod_status(pod)
        if deployment is not None:
            await self._write_deployment_status(key, deployment)
        elif not pods:
            self._pods.pop(key, None)
            self._written_deployment_status.pop(key, None)

    async def _scale(self, key: Key, deployment: dict[str, Any], active: list[LocalPod]) -> None:
        desired = int(deployment["spec"].get("replicas", 1))
        current_hash = template_hash(deployment["spec"]["template"])
        current = [pod for pod in active if pod.template_hash == current_hash]
        old = [pod for pod in active if pod.template_hash != current_hash]
        for _ in range(desired - len(current)):
            await self._create_pod(key, deployment, current_hash)
        # Scale-in: unready pods first, then the newest (as a ReplicaSet picks).
        newest_first = current[::-1]  # pods are kept in creation order
        surplus = sorted(newest_first, key=lambda pod: pod.ready)  # stable: newest first
        for pod in surplus[: max(0, len(current) - desired)]:
            await self._start_draining(key, pod)
        # Rollout with maxUnavailable 0: old pods go as new ones become ready.
        ready_new = sum(pod.ready for pod in current)
        keep_old = max(0, desired - ready_new)
        for pod in sorted(old, key=lambda pod: pod.ready, reverse=True)[keep_old:]:
            await self._start_draining(key, pod)

    async def _create_pod(self, key: Key, deployment: dict[str, Any], hash_: str) -> None:
        template = deployment["spec"]["template"]
        name = pod_name(key[1], hash_)
        try:
            plan = plan_process(
                template, self._volumes, free_port, pod=name, runtime_dir=self._runtime_dir
            )
            init_plans = plan_init_containers(
                template, self._volumes, self._pod_root(name), plan.ports
            )
        except PodPlanError as error:
            log.error("cannot run pods of %s/%s: %s", *key, error)
            return
        manifest = pod_manifest(deployment, name, hash_, plan.ports.by_name())
        created = await self._kube.create(PODS, key[0], manifest, field_manager=LOCAL_FIELD_MANAGER)
        loop_now = asyncio.get_running_loop().time()
        pod = LocalPod(
            name=name,
            namespace=key[0],
            template_hash=hash_,
            labels=dict(manifest["metadata"]["labels"]),
            plan=plan,
            start_at=loop_now + self.start_delay_s,
            uid=str((created.get("metadata") or {}).get("uid", "")),
            init=InitSequence(init_plans) if init_plans else None,
        )
        self._pods[key].append(pod)
        log.info("created pod %s/%s", key[0], name)

    async def _tend(self, pod: LocalPod) -> None:
        """Start a due process; notice and report one that died, and schedule its restart."""
        now = asyncio.get_running_loop().time()
        if pod.process is not None:
            code = pod.process.exit_code()
            if code is None:
                return
            backoff = pod.record_exit(code, now)
            message = (
                f"server process exited with code {code}; restarting in {backoff:g} s "
                f"(restart {pod.restarts}); log: {self._log_path(pod)}"
            )
            log.warning("pod %s/%s: %s", pod.namespace, pod.name, message)
            await self._event(pod, "Warning", "BackOff", message)
            return
        if pod.init is not None and not pod.init.complete:
            if now >= pod.start_at:
                stem = self._log_path(pod).stem
                failure = pod.init.tend(now, self._logs, stem)
                if failure is not None:
                    log.warning("pod %s/%s: %s", pod.namespace, pod.name, failure)
                    await self._event(pod, "Warning", "BackOff", failure)
            if not pod.init.complete:
                return
        if now >= pod.start_at:
            pod.process = ServerProcess(pod.plan, self._log_path(pod))
            pod.started_at = now_iso()
            pod.waiting_reason = None
            if pod.restarts:
                await self._event(pod, "Normal", "Started", "server process restarted")

    async def _probe(self, pods: list[LocalPod]) -> None:
        assert self._session is not None
        session = self._session
        running = [pod for pod in pods if pod.process is not None]
        results = await asyncio.gather(
            *(pod.process.probe_ready(session) for pod in running if pod.process)
        )
        for pod, ready in zip(running, results, strict=True):
            pod.set_ready(ready)

    async def _start_draining(self, key: Key, pod: LocalPod) -> None:
        if pod.terminating:
            return
        pod.terminating = True
        # The ReplicaSet's DELETE comes first: the server marks the pod (its
        # deletionTimestamp), and only then does the kubelet stop it and turn it unready.
        grace = pod.plan.termination_grace_s or self.exit_grace_s
        await self._delete_pod(pod, grace_s=max(1, round(self.drain_delay_s + grace)))
        pod.set_ready(False)
        task = asyncio.create_task(self._drain(key, pod), name=f"drain-{pod.name}")
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)

    async def _drain(self, key: Key, pod: LocalPod) -> None:
        # Unready first, so clients (Service endpoints) stop sending it new work ...
        await self._write_pod_status(pod)
        if pod.process is not None:
            await asyncio.sleep(self.drain_delay_s)
            # ... then SIGTERM: the server finishes what it holds, then exits.
            # The pod's own grace period, as the kubelet gives it (LLM streams drain long).
            grace = pod.plan.termination_grace_s or self.exit_grace_s
            code = await pod.process.terminate(grace)
            log.info("pod %s/%s stopped (exit code %s)", pod.namespace, pod.name, code)
        if pod.init is not None:
            await pod.init.stop(self.exit_grace_s)
        with contextlib.suppress(ValueError):
            self._pods.get(key, []).remove(pod)
        await self._delete_pod(pod, grace_s=0)  # the kubelet's, once it stopped
        self._remove_empty_dirs(pod)
        self._publish_targets()
        self._wake.set()

    async def _delete_pod(self, pod: LocalPod, *, grace_s: int) -> None:
        """DELETE the pod object (if still this pod): with a grace, as the ReplicaSet does
        (the server only marks it); with none, as the kubelet does once it stopped."""
        body = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "gracePeriodSeconds": grace_s,
            "preconditions": {"uid": pod.uid},
        }
        with contextlib.suppress(NotFoundError, ConflictError):
            await self._kube.request("DELETE", PODS.path(pod.namespace, pod.name), body=body)

    # Writing what a cluster would show.
    async def _write_pod_status(self, pod: LocalPod) -> None:
        status = pod_status(pod.container_state(), pod.ready_since)
        if pod.terminating:
            status["conditions"][-1]["reason"] = "Terminating"
        if status == pod.written_status:
            return
        await self._kube.merge_patch(
            PODS,
            pod.namespace,
            pod.name,
            {"status": status},
            subresource="status",
            field_manager=LOCAL_FIELD_MANAGER,
        )
        pod.written_status = status

    async def _write_deployment_status(self, key: Key, deployment: dict[str, Any]) -> None:
        current_hash = template_hash(deployment["spec"]["template"])
        active = [pod for pod in self._pods.get(key, []) if not pod.terminating]
        status = deployment_status(
            (deployment.get("metadata") or {}).get("generation"),
            replicas=len(active),
            ready=sum(pod.ready for pod in active),
            updated=sum(pod.template_hash == current_hash for pod in active),
        )
        if status == self._written_deployment_status.get(key):
            return
        await self._kube.merge_patch(
            DEPLOYMENTS,
            *key,
            {"status": status},
            subresource="status",
            field_manager=LOCAL_FIELD_MANAGER,
        )
        self._written_deployment_status[key] = status

    async def _event(self, pod: LocalPod, type_: str, reason: str, message: str) -> None:
        body = {"metadata": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid}}
        try:
            await self._kube.create(
                EVENTS,
                pod.namespace,
                pod_event(body, type_, reason, message),
                field_manager=LOCAL_FIELD_MANAGER,
            )
        except Exception as error:  # an event is a courtesy; never fail the sync for it
            log.warning("could not record event %s on %s: %s", reason, pod.name, error)

    def _publish_targets(self) -> None:
        targets = [
            ScrapeTarget(
                f"127.0.0.1:{pod.plan.ports.metrics}",
                {
                    "namespace": pod.namespace,
                    "modeldeployment": pod.labels.get(OWNER_LABEL, ""),
                    "pod": pod.name,
                },
            )
            for pods in self._pods.values()
            for pod in pods
            if pod.process is not None and pod.process.exit_code() is None
        ]
        if targets != self._published:
            self._targets.set_targets(targets)
            self._published = targets

    def _pod_root(self, pod: str) -> Path:
        return self._runtime_dir / "pods" / pod

    def _remove_empty_dirs(self, pod: LocalPod) -> None:
        """An emptyDir (a fetched model included) lives as long as its pod, as on a node."""
        shutil.rmtree(empty_dirs(self._pod_root(pod.name)), ignore_errors=True)

    def _log_path(self, pod: LocalPod) -> Path:
        return self._logs / f"{pod.namespace}_{pod.name}.log"
