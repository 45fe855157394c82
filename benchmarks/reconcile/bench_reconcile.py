"""Benchmark: 1,000 ModelDeployments applied to the API emulator at once.

Measures the time until every one is reconciled (its Deployment, Service and PDB
exist, ``Reconciled=True`` at generation 1) and ``Ready=True`` (this script plays
kubelet: it marks each Deployment's pod ready as soon as the Deployment exists),
the API requests the operator made, and the operator's peak RSS. The operator
runs as ``gpufleet run`` in its own process, as in production.

    make bench-reconcile   # python benchmarks/reconcile/bench_reconcile.py --count 1000
"""

from __future__ import annotations

import argparse
import collections
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp.web

from gpufleet_devtools.apiserver.handler import ApiServerHandler
from gpufleet_devtools.apiserver.server import EmulatedApiServer

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "crds" / "modeldeployments.gpufleet.io.yaml"
RESULTS = REPO / "docs" / "benchmarks" / "reconcile.md"


class CountingHandler(ApiServerHandler):
    """Counts HTTP requests by method: only the operator speaks HTTP here (this script
    seeds and reads objects in-process)."""

    counts: collections.Counter[str]

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        self.counts[raw_request.method] += 1
        return await super().__call__(raw_request)


def spec(index: int) -> dict[str, Any]:
    return {
        "model": {"name": f"model-{index}", "repository": "pvc://models/triton"},
        "runtime": {"type": "triton" if index % 2 else "torch"},
        "resources": {"gpus": 1, "gpuType": "nvidia-l4"},
        "slo": {"latencyP95Ms": 200},
        "cost": {"maxHourlyCost": 20.0},
    }


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def converged(server: EmulatedApiServer, count: int) -> tuple[int, int]:
    """(reconciled and Ready, Deployments still to mark ready)."""
    deployments = {d["metadata"]["name"]: d for d in server.list("apps/v1/deployments", "default")}
    to_mark = [
        n for n, d in deployments.items() if not (d.get("status") or {}).get("readyReplicas")
    ]
    for name in to_mark:
        server.patch_status(
            "apps/v1/deployments", name, {"replicas": 1, "readyReplicas": 1}, "default"
        )
    done = 0
    for md in server.list("gpufleet.io/v1alpha1/modeldeployments", "default"):
        status = md.get("status") or {}
        conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
        name = md["metadata"]["name"]
        if (
            status.get("observedGeneration") == 1
            and conditions.get("Reconciled") == "True"
            and conditions.get("Ready") == "True"
            and name in deployments
        ):
            done += 1
    return done, len(to_mark)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks")
    args = parser.parse_args()

    server = EmulatedApiServer()
    server.handler = CountingHandler()
    server.handler.counts = collections.Counter()
    with server:
        server.create("apiextensions.k8s.io/v1/customresourcedefinitions", _load_crd())
        env = {**os.environ, "KUBECONFIG": str(server.kubeconfig_path), "GPUFLEET_AUTOSCALING": "0"}
        log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (kept after exit for reading)
            prefix="gpufleet-bench-", suffix=".log", delete=False
        )
        operator = subprocess.Popen(
            [sys.executable, "-m", "gpufleet", "run", "--standalone"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            started = time.monotonic()
            for index in range(args.count):
                body = {
                    "apiVersion": "gpufleet.io/v1alpha1",
                    "kind": "ModelDeployment",
                    "metadata": {"name": f"md-{index:04d}", "namespace": "default"},
                    "spec": spec(index),
                }
                server.create("gpufleet.io/v1alpha1/modeldeployments", body, "default")
            applied = time.monotonic() - started
            done = 0
            while time.monotonic() - started < args.timeout:
                done, _ = converged(server, args.count)
                if done == args.count:
                    break
                if operator.poll() is not None:
                    raise SystemExit(f"operator exited; its log: {log.name}")
                time.sleep(0.5)
            elapsed = time.monotonic() - started
            rss = peak_rss_mb(operator.pid)
        finally:
            operator.terminate()
            try:
                operator.wait(timeout=30)
            except subprocess.TimeoutExpired:
                operator.kill()
                print(f"warning: the operator took over 30 s to stop; log: {log.name}")
    counts = server.handler.counts
    operator_requests = sum(counts.values())
    by_verb = ", ".join(f"{verb} {n}" for verb, n in sorted(counts.items()))
    ok = done == args.count
    command = f"python benchmarks/reconcile/bench_reconcile.py --count {args.count}"
    machine = (
        f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}"
    )
    lines = [
        "# Benchmark: reconciling 1,000 ModelDeployments",
        "",
        f"Command: `make bench-reconcile` (`{command}`)",
        f"Date: {datetime.date.today()}; machine: {machine}; the API emulator (kmock-based)",
        "in the benchmark's process, the operator (`gpufleet run --standalone`) in its own.",
        "",
        "| measure | result | target |",
        "| --- | --- | --- |",
        f"| converged (children, Reconciled=True, Ready=True) | {done}/{args.count} | all |",
        f"| first apply to convergence | {elapsed:.1f} s (applying: {applied:.1f} s) | <= 60 s |",
        f"| API requests made by the operator | {operator_requests} ({by_verb}) | |",
        f"| requests per ModelDeployment | {operator_requests / args.count:.1f} | |",
        f"| operator peak RSS (VmHWM) | {rss:.0f} MB | <= 300 MB |",
        "",
        "Ready=True needs a ready pod: the benchmark plays kubelet and marks each Deployment's",
        "replica ready as soon as it exists, so the operator also mirrors 1,000 Deployment status",
        "changes into ModelDeployment status. Autoscaling is off (no Prometheus here); the scaling",
        "loop has its own benchmark (`make bench-policy`).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)
    return 0 if ok else 1


def _load_crd() -> dict[str, Any]:
    import yaml

    return dict(yaml.safe_load(CRD.read_text()))


if __name__ == "__main__":
    sys.exit(main())
