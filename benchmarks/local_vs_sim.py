"""Does the simulator predict the local fleet? One trace window through both, compared.

1. One replica of the local demo's model, started as the local node starts a pod, is
   measured with ``gpufleet profile`` (its batch time a + c x b, HTTP included, and the
   model's compute time from the server's compute counter, which the simulated replica
   credits to that counter as the real one does).
2. ``gpufleet local demo``'s code (the real operator, Prometheus, API emulator, node
   agent and ``gpufleet-server`` pods) replays the trace window; every request's outcome
   comes back from its load generator, and each scale-up's pod start (asked for ->
   ready) from its timeline.
3. ``gpufleet sim`` replays the very same arrivals (written to a CSV of timestamps)
   with that profile, the measured pod start as its cold start, the demo's manifest,
   the local operator's tick, scrape interval and rate window, one ready replica at
   the start (as old as one pod's spawn-to-ready: Prometheus discovers it within its
   5 s throttle of the spawn) and the load generator's timeout, for several routing
   seeds.

Both sides count a request within target when it was answered within the manifest's
latency target (failures miss); mean replicas is the mean of the replicas asked for.
Issue 11's targets: attainment within 3 points, mean replicas within 20 %.

    flock /work/coord/cpu.lock make bench-local-vs-sim    # about 6 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tritonclient.http as triton_http
import yaml

from gpufleet.domain.manifests.deployment import build_deployment
from gpufleet.domain.manifests.identity import Owner
from gpufleet.sim.trace_files import load_trace
from gpufleet_devtools.local.cli import DEFAULT_DURATION_S, DEMO_RATE_SCALE
from gpufleet_devtools.local.demo import DemoResult, DemoRun, bootstrap_model, run_demo
from gpufleet_devtools.local.demo_model import IN_FEATURES, TORCH_INPUT
from gpufleet_devtools.local.fleet import FleetOptions
from gpufleet_devtools.local.loadgen import REQUEST_TIMEOUT_S, LoadGenerator, RequestRecord
from gpufleet_devtools.local.manifest import load_manifest
from gpufleet_devtools.local.paths import DEFAULT_TRACE, EXAMPLE_MANIFEST, LocalPaths
from gpufleet_devtools.local.podplan import plan_process
from gpufleet_devtools.local.timeline import Sample
from gpufleet_devtools.local.trace import Arrivals, replay
from gpufleet_devtools.runtime.process import free_port, http_status
from gpufleet_devtools.waiting import wait_for

REPO = Path(__file__).resolve().parents[1]
GPUFLEET = Path(sys.executable).with_name("gpufleet")
ATTAINMENT_POINTS = 3.0
REPLICAS_RELATIVE = 0.20
WINDOW_S = 5.0
FIRST_REQUESTS = 8


@dataclass(frozen=True)
class ServerStart:
    profile: Path
    spawn_to_ready_s: float
    """One gpufleet-server process alone: from its launch to /v2/health/ready."""
    first_requests_ms: list[float]
    """Its first requests once ready, one at a time: a fresh replica's warm-up."""


@dataclass(frozen=True)
class LocalOutcome:
    requests: int
    failed: int
    attainment: float
    """Requests answered within the target / all requests."""
    seconds_within_target_pct: float | None
    """The demo's own figure: sampled seconds whose 5 s client p95 met the target."""
    mean_replicas: float
    max_replicas: int
    pod_starts_s: list[float]
    """Each scale-up: from the Deployment asking for a replica to it being ready (1 s samples)."""
    p95_ms: float | None
    send_lag_ms: dict[str, float]
    """How late the load generator sent requests against their trace times (p50/p95/max)."""
    cpu: dict[str, float]
    """Cores busy during the replay: the whole machine, and the demo's own process (load
    generator, node agent and timeline share one event loop)."""
    windows: list[dict[str, float]]
    """Per 5 s of send time: requests sent/s, share within target, replicas asked for, ready."""
    decisions: list[dict[str, Any]]
    """Each change of the operator's stated reason: when, replicas asked for, ready, reason."""


@dataclass(frozen=True)
class SimOutcome:
    routing: str
    seed: int
    attainment: float
    mean_replicas: float
    max_replicas: int
    p95_ms: float
    failed: int
    scale_events: int


def demo_arrivals(trace: Path, duration_s: float, rate_scale: float) -> Arrivals:
    """What ``gpufleet local demo --duration D --rate-scale R`` replays (same seed, same copies)."""
    times = load_trace(str(trace)).arrivals.tolist()
    speedup = max(1.0, times[-1] / DEFAULT_DURATION_S)
    return replay(times, duration_s, speedup, rate_scale, name=trace.name)


def write_arrivals(arrivals: Arrivals, path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp"])
        writer.writerows([f"{t:.6f}"] for t in arrivals.offsets)


def profile_one_replica(paths: LocalPaths, manifest_path: Path, out: Path) -> ServerStart:
    """Start one pod of the manifest as the local node does, time its start, profile it."""
    manifest = load_manifest(manifest_path)
    bootstrap_model(paths, manifest)
    deployment = build_deployment(
        Owner(manifest.name, manifest.namespace, "uid-0"), manifest.spec, 1
    )
    plan = plan_process(deployment["spec"]["template"], paths.volumes, free_port, pod="profiled")
    log_path = paths.logs / "local-vs-sim-profiled.log"
    with log_path.open("wb") as log:
        launched = time.monotonic()
        server = subprocess.Popen(plan.argv, env=plan.env, stdout=log, stderr=log)
    try:
        url = f"127.0.0.1:{plan.ports.http}"

        def ready() -> bool:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited: see {log_path}")
            return http_status(f"http://{url}/v2/health/ready") == 200

        wait_for(ready, timeout=120, interval=0.05, what=f"{url} ready")
        spawn_to_ready = time.monotonic() - launched
        first = first_requests_ms(url, manifest.spec.model.name, FIRST_REQUESTS)
        subprocess.run(
            [
                str(GPUFLEET),
                "profile",
                "--url",
                url,
                "--model",
                manifest.spec.model.name,
                "--metrics-url",
                f"http://127.0.0.1:{plan.ports.metrics}/metrics",
                "--out",
                str(out),
            ],
            check=True,
        )
    finally:
        server.terminate()
        server.wait(timeout=60)
    return ServerStart(out, spawn_to_ready, first)


def first_requests_ms(url: str, model: str, count: int) -> list[float]:
    data = np.zeros((1, IN_FEATURES), dtype=np.float32)
    latencies = []
    with triton_http.InferenceServerClient(url=url) as client:
        for _ in range(count):
            tensor = triton_http.InferInput(TORCH_INPUT, [1, IN_FEATURES], "FP32")
            tensor.set_data_from_numpy(data)
            started = time.monotonic()
            client.infer(model, [tensor])
            latencies.append(round(1000 * (time.monotonic() - started), 1))
    return latencies


def pod_starts(samples: Sequence[Sample]) -> list[float]:
    """Seconds from each rise of the replicas asked for to the ready count reaching it."""
    starts: list[float] = []
    previous: int | None = None
    for i, sample in enumerate(samples):
        if sample.desired is None:
            continue
        if previous is not None and sample.desired > previous:
            reached = next(
                (s.t for s in samples[i:] if s.ready >= sample.desired),
                None,
            )
            # Asked for less again before it came up: no start to time.
            if reached is not None and all(
                (s.desired or 0) >= sample.desired for s in samples[i:] if s.t <= reached
            ):
                starts.append(round(reached - sample.t, 1))
        previous = sample.desired
    return starts


def machine_busy_s() -> tuple[float, float]:
    """(busy, total) CPU-seconds of the whole machine so far, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    ticks = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / ticks, sum(fields) / ticks


def fleet_cpu_s() -> float:
    """CPU-seconds of this process and its reaped children: the load generator, node agent
    and timeline (this process), servers, Prometheus, operator and API emulator (children,
    all stopped and reaped when the demo returns)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def quantiles(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values) or [0.0]

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 1)

    return {"p50": at(0.5), "p95": at(0.95), "max": ordered[-1]}


def windows(
    records: Sequence[RequestRecord], samples: Sequence[Sample], target_ms: float, step: float
) -> list[dict[str, float]]:
    count = int(max((r.sent_s for r in records), default=0.0) // step) + 1
    sent = [0] * count
    within = [0] * count
    for r in records:
        i = int(r.sent_s // step)
        sent[i] += 1
        within[i] += r.ok and r.latency_s * 1000 <= target_ms
    rows = []
    for i in range(count):
        inside = [s for s in samples if i * step <= s.t < (i + 1) * step]
        rows.append(
            {
                "t": i * step,
                "sent_rps": sent[i] / step,
                "within": within[i] / sent[i] if sent[i] else 1.0,
                "desired": max((s.desired or 0 for s in inside), default=0),
                "ready": min((s.ready for s in inside), default=0),
            }
        )
    return rows


def decisions(samples: Sequence[Sample]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for s in samples:
        if not rows or s.reason != rows[-1]["reason"] or s.desired != rows[-1]["desired"]:
            rows.append(
                {"t": round(s.t, 1), "desired": s.desired, "ready": s.ready, "reason": s.reason}
            )
    return rows


def local_outcome(
    arrivals: Arrivals,
    result: DemoResult,
    cpu: dict[str, float],
) -> LocalOutcome:
    loadgen = result.loadgen
    target_ms = result.summary.target_p95_ms
    if not isinstance(loadgen, LoadGenerator) or target_ms is None:
        raise SystemExit("the manifest's model must answer whole requests (latencyP95Ms)")
    records = loadgen.records
    samples = result.timeline.samples
    within = sum(r.ok and r.latency_s * 1000 <= target_ms for r in records)
    desired = [s.desired for s in samples if s.desired is not None] or [0]
    answered = [r.latency_s * 1000 for r in records if r.ok]
    sent = loadgen.sent_at
    # Requests leave in trace order; refused ones (no endpoint) have no send time.
    lag = [1000 * (at - due) for at, due in zip(sent, arrivals.offsets, strict=False)]
    return LocalOutcome(
        requests=len(records),
        failed=sum(not r.ok for r in records),
        attainment=within / max(len(records), 1),
        seconds_within_target_pct=result.summary.seconds_within_target_pct,
        mean_replicas=statistics.fmean(desired),
        max_replicas=max(desired),
        pod_starts_s=pod_starts(samples),
        p95_ms=quantiles(answered)["p95"] if answered else None,
        send_lag_ms=quantiles(lag) if len(sent) == len(arrivals.offsets) else {},
        cpu=cpu,
        windows=windows(records, samples, target_ms, WINDOW_S),
        decisions=decisions(samples),
    )


def run_local(paths: LocalPaths, arrivals: Arrivals, args: argparse.Namespace) -> LocalOutcome:
    run = DemoRun(
        arrivals=arrivals,
        manifest_path=args.manifest,
        fleet=FleetOptions(tick_seconds=args.tick, start_delay_s=args.start_delay),
        live=False,
        plot_path=args.out / "local.png",
        json_path=args.out / "local-summary.json",
    )
    busy0, total0 = machine_busy_s()
    own0, wall0 = fleet_cpu_s(), time.monotonic()
    result = asyncio.run(run_demo(paths, run))
    busy1, total1 = machine_busy_s()
    wall = time.monotonic() - wall0
    cores = os.cpu_count() or 1
    machine = cores * (busy1 - busy0) / (total1 - total0)
    fleet = (fleet_cpu_s() - own0) / wall
    cpu = {
        "machine_cores_busy": round(machine, 2),
        "local_fleet_cores": round(fleet, 2),
        "other_processes_cores": round(machine - fleet, 2),
        "cores": cores,
    }
    return local_outcome(arrivals, result, cpu)


def sim_command(
    args: argparse.Namespace, arrivals_csv: Path, start: ServerStart, cold_s: float
) -> list[str]:
    fleet = FleetOptions(tick_seconds=args.tick)
    # The local fleet publishes a pod's scrape target when it spawns, and the load starts
    # once the first pod is ready: that pod is at least its spawn-to-ready old at t=0, and
    # Prometheus may not have discovered it yet.
    return [
        str(GPUFLEET),
        "sim",
        "--trace",
        str(arrivals_csv),
        "--manifest",
        str(args.manifest),
        "--profile",
        str(start.profile),
        "--policies",
        "gpufleet",
        "--no-sweep",
        "--cold-start-s",
        f"{cold_s:.1f}",
        "--initial-replicas",
        "1",
        "--initial-pod-age-s",
        f"{start.spawn_to_ready_s:.2f}",
        "--timeout-s",
        f"{REQUEST_TIMEOUT_S:g}",
        "--tick-s",
        f"{fleet.tick_seconds:g}",
        "--scrape-interval-s",
        f"{fleet.scrape_interval_s:g}",
        "--rate-window-s",
        f"{fleet.rate_window_s:g}",
    ]


def run_sim(command: list[str], routing: str, seed: int, out: Path) -> SimOutcome:
    json_path = out / f"sim-{routing}-{seed}.json"
    subprocess.run(
        [*command, "--routing", routing, "--seed", str(seed), "--json", str(json_path)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    best: dict[str, Any] = json.loads(json_path.read_text())["policies"][0]["best"]
    return SimOutcome(
        routing=routing,
        seed=seed,
        attainment=float(best["within_slo"]),
        mean_replicas=float(best["mean_replicas"]),
        max_replicas=int(best["max_replicas"]),
        p95_ms=float(best["p95_ms"]),
        failed=int(best["failed"]),
        scale_events=int(best["scale_events"]),
    )


def verdict(local: LocalOutcome, sim: Sequence[SimOutcome]) -> dict[str, Any]:
    attainment = statistics.fmean(s.attainment for s in sim)
    replicas = statistics.fmean(s.mean_replicas for s in sim)
    points = 100 * abs(attainment - local.attainment)
    relative = abs(replicas - local.mean_replicas) / local.mean_replicas
    return {
        "sim_attainment_mean": attainment,
        "sim_mean_replicas_mean": replicas,
        "attainment_gap_points": points,
        "replicas_gap_relative": relative,
        "attainment_agrees": points <= ATTAINMENT_POINTS,
        "replicas_agree": relative <= REPLICAS_RELATIVE,
    }


def source_state() -> dict[str, Any]:
    """The commit and the code files that differ from it (the shared tree may hold edits)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.rstrip()

    changed = git("status", "--porcelain", "--", "operator", "devtools", "inference-image")
    return {
        "commit": git("rev-parse", "--short", "HEAD").strip(),
        "uncommitted": [line[3:] for line in changed.splitlines()],
    }


def print_report(report: dict[str, Any]) -> None:
    local = report["local"]
    print(f"\ncommit {report['commit']}, uncommitted: {', '.join(report['uncommitted']) or 'none'}")
    print(f"trace {report['trace']}, {local['requests']} requests")
    fields = ("a_ms", "c_ms", "compute_a_ms", "compute_c_ms", "max_batch", "max_queue_delay_ms")
    fitted = {k: report["profile"].get(k) for k in fields}
    print(
        f"profile: {fitted}; a fresh replica's first requests (ms): {report['first_requests_ms']}"
    )
    print(f"load generator send lag (ms): {local['send_lag_ms']}; cpu: {local['cpu']}")
    print(
        f"pod starts in the local fleet: {local['pod_starts_s']} s; "
        f"sim cold start {report['cold_start_s']:.1f} s"
    )
    print("| run | within target | mean replicas | max | p95 ms | failed |")
    print("|---|---|---|---|---|---|")
    print(
        f"| local demo | {100 * local['attainment']:.2f} % | {local['mean_replicas']:.2f} "
        f"| {local['max_replicas']} | {local['p95_ms']:.0f} | {local['failed']} |"
    )
    for s in report["sim"]:
        print(
            f"| sim {s['routing']} seed {s['seed']} | {100 * s['attainment']:.2f} % "
            f"| {s['mean_replicas']:.2f} | {s['max_replicas']} | {s['p95_ms']:.0f} "
            f"| {s['failed']} |"
        )
    for routing, v in report["verdict"].items():
        print(
            f"{routing}: attainment gap {v['attainment_gap_points']:.2f} points "
            f"({'ok' if v['attainment_agrees'] else 'MISS'}), mean replicas gap "
            f"{100 * v['replicas_gap_relative']:.1f} % ({'ok' if v['replicas_agree'] else 'MISS'})"
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trace", type=Path, default=DEFAULT_TRACE)
    parser.add_argument("--manifest", type=Path, default=EXAMPLE_MANIFEST)
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION_S)
    parser.add_argument("--rate-scale", type=float, default=DEMO_RATE_SCALE["gpu-like"])
    parser.add_argument("--start-delay", type=float, default=5.0, help="the demo's default")
    parser.add_argument("--tick", type=float, default=2.0, help="the demo's default")
    parser.add_argument("--seeds", type=int, default=5, help="sim routing seeds per routing")
    parser.add_argument("--out", type=Path, default=REPO / ".gpufleet" / "local-vs-sim")
    parser.add_argument(
        "--reuse-local", action="store_true", help="reuse the last local run's result (sim only)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    paths = LocalPaths.under().ensure()
    arrivals = demo_arrivals(args.trace, args.duration, args.rate_scale)
    arrivals_csv = args.out / "arrivals.csv"
    write_arrivals(arrivals, arrivals_csv)
    saved = args.out / "local.json"
    if args.reuse_local:
        measured = json.loads(saved.read_text())
        local = LocalOutcome(**measured["local"])
        start = ServerStart(
            Path(measured["profile"]),
            measured["spawn_to_ready_s"],
            measured.get("first_requests_ms", []),
        )
    else:
        start = profile_one_replica(paths, args.manifest, args.out / "profile.yaml")
        local = run_local(paths, arrivals, args)
        saved.write_text(
            json.dumps(
                {
                    "local": asdict(local),
                    "profile": str(start.profile),
                    "spawn_to_ready_s": start.spawn_to_ready_s,
                    "first_requests_ms": start.first_requests_ms,
                    "source": source_state(),
                },
                indent=2,
            )
        )
    # The fleet's own pod starts when it scaled up; else a lone server's start plus the delay.
    cold_s = (
        statistics.fmean(local.pod_starts_s)
        if local.pod_starts_s
        else args.start_delay + start.spawn_to_ready_s
    )
    command = sim_command(args, arrivals_csv, start, cold_s)
    sims = [
        run_sim(command, routing, seed, args.out)
        for routing in ("random", "least-outstanding")
        for seed in range(args.seeds)
    ]
    report = {
        **source_state(),
        "local_source": json.loads(saved.read_text()).get("source"),
        "trace": arrivals.description,
        "profile": yaml.safe_load(start.profile.read_text()),
        "spawn_to_ready_s": start.spawn_to_ready_s,
        "first_requests_ms": start.first_requests_ms,
        "cold_start_s": cold_s,
        "sim_command": " ".join(command),
        "local": asdict(local),
        "sim": [asdict(s) for s in sims],
        "verdict": {
            routing: verdict(local, [s for s in sims if s.routing == routing])
            for routing in ("random", "least-outstanding")
        },
        "load_average": os.getloadavg(),
    }
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    print_report(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
