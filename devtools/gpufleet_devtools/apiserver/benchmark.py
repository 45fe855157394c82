"""Load benchmark: the operator-benchmark shape (1,000 custom resources, ~3,000 owned
children, open watches) against the emulator, over HTTP.

``python -m gpufleet_devtools.apiserver.benchmark --crd crds/modeldeployments.gpufleet.io.yaml
--out results.json`` writes per-phase throughput and latency percentiles as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import resource
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from gpufleet_devtools.apiserver.server import EmulatedApiServer

NAMESPACE = "default"
MERGE = {"Content-Type": "application/merge-patch+json"}
CHILDREN = (
    ("/apis/apps/v1", "deployments", "Deployment"),
    ("/api/v1", "services", "Service"),
    ("/apis/policy/v1", "poddisruptionbudgets", "PodDisruptionBudget"),
)


def model_deployment(name: str, index: int) -> dict[str, Any]:
    """Every spec differs (so CEL outcomes cannot be reused across creates)."""
    return {
        "apiVersion": "gpufleet.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "labels": {"bench": "yes"}},
        "spec": {
            "model": {"name": "llama", "repository": "s3://models/llama"},
            "slo": {"latencyP95Ms": 100 + index},
            "cost": {"maxHourlyCost": 10},
            "scaling": {"minReplicas": 1, "maxReplicas": 4},
        },
    }


def child(kind: str, name: str, owner: dict[str, Any]) -> dict[str, Any]:
    meta = owner["metadata"]
    reference = {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    return {
        "metadata": {"name": name, "labels": {"app": meta["name"]}, "ownerReferences": [reference]},
        "spec": {"replicas": 1} if kind == "Deployment" else {},
    }


class Phase:
    """Latencies, wall time and process CPU time (server and client) of one phase."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.latencies: list[float] = []
        self._started = time.perf_counter()
        self._cpu_started = time.process_time()
        self.elapsed = self.cpu = 0.0

    async def timed(self, call: Awaitable[Any]) -> Any:
        start = time.perf_counter()
        result = await call
        self.latencies.append(time.perf_counter() - start)
        return result

    def finish(self) -> None:
        self.elapsed = time.perf_counter() - self._started
        self.cpu = time.process_time() - self._cpu_started

    def report(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        count = len(ordered)
        return {
            "phase": self.name,
            "requests": count,
            "wall_seconds": round(self.elapsed, 3),
            "process_cpu_seconds": round(self.cpu, 3),
            "requests_per_second": round(count / self.elapsed, 1),
            "cpu_ms_per_request": round(self.cpu / count * 1000, 3),
            "latency_ms_p50": round(statistics.median(ordered) * 1000, 2),
            "latency_ms_p95": round(ordered[int(0.95 * (count - 1))] * 1000, 2),
            "latency_ms_max": round(ordered[-1] * 1000, 2),
        }


async def _bounded(concurrency: int, calls: list[Awaitable[Any]]) -> list[Any]:
    semaphore = asyncio.Semaphore(concurrency)

    async def run(call: Awaitable[Any]) -> Any:
        async with semaphore:
            return await call

    return await asyncio.gather(*(run(call) for call in calls))


async def _count_watch_events(api: aiohttp.ClientSession, url: str, counter: list[int]) -> None:
    params = {"watch": "true", "allowWatchBookmarks": "true"}
    async with api.get(url, params=params, timeout=aiohttp.ClientTimeout(total=None)) as rsp:
        async for _ in rsp.content:
            counter[0] += 1


class Client:
    """The benchmark's requests, asserting success."""

    def __init__(self, api: aiohttp.ClientSession) -> None:
        self.api = api

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.api.post(path, json=body) as response:
            assert response.status == 201, await response.text()
            created: dict[str, Any] = await response.json()
            return created

    async def patch_status(self, path: str, status: dict[str, Any]) -> None:
        async with self.api.patch(
            f"{path}/status", headers=MERGE, json={"status": status}
        ) as response:
            assert response.status == 200, await response.text()

    async def count(self, path: str) -> int:
        async with self.api.get(path) as response:
            return len((await response.json())["items"])

    async def delete(self, path: str) -> None:
        async with self.api.delete(path) as response:
            assert response.status == 200, await response.text()


async def _until(check: Callable[[], Awaitable[bool]], within: float = 60.0) -> None:
    async with asyncio.timeout(within):
        while True:
            if await check():
                return
            await asyncio.sleep(0.02)


async def run_benchmark(url: str, owners: int, concurrency: int) -> dict[str, Any]:
    mds = f"/apis/gpufleet.io/v1alpha1/namespaces/{NAMESPACE}/modeldeployments"
    child_paths = [
        (f"{prefix}/namespaces/{NAMESPACE}/{plural}", kind) for prefix, plural, kind in CHILDREN
    ]
    phases: list[Phase] = []
    connector = aiohttp.TCPConnector(limit=concurrency + 8)
    async with aiohttp.ClientSession(base_url=url, connector=connector) as api:
        client = Client(api)
        watched = [
            "/apis/gpufleet.io/v1alpha1/modeldeployments",
            *(f"{prefix}/{plural}" for prefix, plural, _ in CHILDREN),
        ]
        counters = [[0] for _ in watched]
        watchers = [
            asyncio.create_task(_count_watch_events(api, path, counter))
            for path, counter in zip(watched, counters, strict=True)
        ]

        phase = Phase("create custom resources")
        created = await _bounded(
            concurrency,
            [
                phase.timed(client.post(mds, model_deployment(f"md-{i:04d}", i)))
                for i in range(owners)
            ],
        )
        phases.append(phase)
        phase.finish()

        phase = Phase("create owned children")
        await _bounded(
            concurrency,
            [
                phase.timed(client.post(path, child(kind, owner["metadata"]["name"], owner)))
                for owner in created
                for path, kind in child_paths
            ],
        )
        phase.finish()
        phases.append(phase)

        phase = Phase("patch status")
        await _bounded(
            concurrency,
            [
                phase.timed(
                    client.patch_status(f"{mds}/{o['metadata']['name']}", {"desiredReplicas": 2})
                )
                for o in created
            ],
        )
        phase.finish()
        phases.append(phase)

        phase = Phase(f"list {owners} custom resources, 20 times")
        for _ in range(20):
            assert await phase.timed(client.count(mds)) == owners
        phase.finish()
        phases.append(phase)

        phase = Phase("delete owners")
        await _bounded(
            concurrency,
            [phase.timed(client.delete(f"{mds}/{o['metadata']['name']}")) for o in created],
        )
        phase.finish()
        phases.append(phase)
        collecting = time.perf_counter()

        async def children_collected() -> bool:
            return not any([await client.count(path) for path, _ in child_paths])

        await _until(children_collected)
        gc_seconds = time.perf_counter() - collecting

        # Custom resources: ADDED, MODIFIED (status), DELETED; children: ADDED, DELETED.
        expected_events = owners * 3 + owners * len(CHILDREN) * 2

        async def events_delivered() -> bool:
            return sum(counter[0] for counter in counters) >= expected_events

        await _until(events_delivered)
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)

    return {
        "owners": owners,
        "children": owners * len(CHILDREN),
        "concurrency": concurrency,
        "note": "client and server share one process; CPU is both, wall time depends on load",
        "phases": [phase.report() for phase in phases],
        "garbage_collection_seconds_after_last_delete": round(gc_seconds, 3),
        "watch_events_received": sum(counter[0] for counter in counters),
        "watch_events_expected": expected_events,
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--crd", type=pathlib.Path, default=pathlib.Path("crds/modeldeployments.gpufleet.io.yaml")
    )
    parser.add_argument("--owners", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", type=pathlib.Path, required=True)
    args = parser.parse_args()
    with EmulatedApiServer(crds=[args.crd]) as server:
        results = asyncio.run(run_benchmark(server.url, args.owners, args.concurrency))
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
