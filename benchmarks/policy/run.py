"""Benchmarks of the autoscaler: decision time, and Prometheus queries per tick.

    .venv/bin/python benchmarks/policy/run.py [--out docs/benchmarks/policy.md]

1. ``decide`` for 1,000 ModelDeployments per tick (each with its own history and
   load, after a warm-up so histories are full): wall time per tick and per call.
2. Queries per tick for 10 vs 1,000 ModelDeployments: a real Prometheus scrapes
   a synthetic exporter that serves Triton's metrics for N pods (one per
   ModelDeployment, labels in the exposition, ``honor_labels``); the reader samples
   and builds every ModelDeployment's observations. The counts must be equal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from gpufleet.domain.scaling.policy import decide
from gpufleet.domain.scaling.types import FleetState, Observations, ScalerHistory
from gpufleet.domain.spec import parse_spec
from gpufleet.metrics.reader import FleetMetricsReader
from gpufleet.settings import OperatorSettings
from gpufleet_devtools.prometheus import PrometheusServer, ScrapeTarget

REPO = Path(__file__).resolve().parents[2]
SIM_HEADER = """
## The policy in the simulator

`make bench-policy` runs `benchmarks/policy/sim_check.py --seeds 2` and then this
script: `gpufleet sim` with default settings, cold start 60 s (scale-down window
therefore 60 s), target p95 3000 ms, the simulator's default replica profile;
baselines (HPA, KEDA, KPA) at their cheapest setting that keeps >= 99 % of
requests within the target, found by sweeping with hindsight. Target: >= 99 %
within target, GPU-hours over the oracle at most half the best baseline's, and at
most 1.25x the oracle. The Azure trace is a fixed file: its seeds differ only
where the simulator draws random numbers (none with a fixed cold start), so its
rows repeat.

"""
SIM_NOTES = """

The policy is one pipeline of named rules (`operator/gpufleet/domain/scaling/rules.py`,
tuning in `tuning.py`); `status.decision.rule` names the one that decided. The
issue-11 verdicts, family by family against hindsight-tuned baselines, are in
`docs/benchmarks/sim-suite.md` (`python benchmarks/sim/suite.py`); a quicker
family check for policy work is `python benchmarks/policy/families.py`. The
table above keeps the older target of this check (half the best baseline's excess
over the oracle, at most 1.25x the oracle) as a second, stricter view.
"""
TICK_S = 5.0


@dataclass
class DecisionResult:
    deployments: int
    ticks: int
    tick_ms_median: float
    tick_ms_p95: float
    call_us_median: float
    call_cpu_us_median: float
    """CPU time of this process per call: what the wall time would be on an idle core
    (the box is shared, so wall time includes waiting for a core)."""


def bench_decisions(
    deployments: int = 1000, warmup_ticks: int = 60, ticks: int = 20
) -> DecisionResult:
    specs = [
        parse_spec(
            {
                "model": {"name": f"m{i}", "repository": "s3://models/m"},
                "slo": {"latencyP95Ms": 500.0 + 10 * (i % 50)},
                "cost": {"maxHourlyCost": 200.0, "gpuHourlyPrice": 1.0},
                "scaling": {"maxReplicas": 100, "coldStartSeconds": 60},
            }
        )
        for i in range(deployments)
    ]
    histories = [ScalerHistory() for _ in range(deployments)]
    replicas = [3] * deployments
    tick_times: list[float] = []
    tick_cpu: list[float] = []

    def one_tick(t: int) -> float:
        now = t * TICK_S
        started = time.perf_counter()
        cpu_started = time.process_time()
        for i, spec in enumerate(specs):
            rate = 5.0 + (i % 40) + 3.0 * ((t + i) % 7)  # varied, moving loads
            batch = 1.0 + ((t + i) % 4) * 0.5
            obs = Observations(
                at=now,
                request_rate=rate,
                queue_depth=float((t + i) % 9),
                p95_latency_ms=300.0 + (t % 5) * 20,
                avg_latency_ms=120.0,
                avg_queue_ms=20.0,
                compute_ms_per_request=40.0 + 10.0 * batch,
                inferences_per_exec=batch,
                unserved_rate=0.0,
                pods_reporting=replicas[i],
            )
            fleet = FleetState(replicas[i], replicas[i], 1, 1.0)
            d = decide(spec, fleet, obs, histories[i], now)
            histories[i] = d.history
            replicas[i] = d.desired_replicas
        tick_cpu.append(time.process_time() - cpu_started)
        return time.perf_counter() - started

    for t in range(warmup_ticks):
        one_tick(t)
    tick_cpu.clear()
    for t in range(warmup_ticks, warmup_ticks + ticks):
        tick_times.append(one_tick(t))
    tick_times.sort()
    median = statistics.median(tick_times)
    return DecisionResult(
        deployments=deployments,
        ticks=ticks,
        tick_ms_median=median * 1000,
        tick_ms_p95=tick_times[int(0.95 * (len(tick_times) - 1))] * 1000,
        call_us_median=median / deployments * 1e6,
        call_cpu_us_median=statistics.median(tick_cpu) / deployments * 1e6,
    )


def exposition(deployments: int, started: float) -> bytes:
    """Triton's metric names for one pod per ModelDeployment; counters grow with time."""
    elapsed = time.time() - started
    lines: list[str] = []
    for i in range(deployments):
        labels = f'namespace="bench",modeldeployment="md-{i}",pod="md-{i}-0",model="m"'
        rate = 1.0 + i % 10
        lines += [
            f"nv_inference_pending_request_count{{{labels}}} {i % 5}",
            f"nv_inference_request_success{{{labels}}} {rate * elapsed:.3f}",
            f'nv_inference_request_failure{{{labels},reason="OTHER"}} 0',
            f"nv_inference_count{{{labels}}} {rate * elapsed:.3f}",
            f"nv_inference_exec_count{{{labels}}} {rate * elapsed / 2:.3f}",
            f"nv_inference_request_duration_us{{{labels}}} {rate * elapsed * 9000:.1f}",
            f"nv_inference_queue_duration_us{{{labels}}} {rate * elapsed * 1000:.1f}",
            f"nv_inference_compute_infer_duration_us{{{labels}}} {rate * elapsed * 7000:.1f}",
            f'nv_inference_request_summary_us{{{labels},quantile="0.95"}} 12000',
        ]
    return ("\n".join(lines) + "\n").encode()


@contextmanager
def exporter(deployments: int) -> Iterator[str]:
    started = time.time()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = exposition(deployments, started)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class QueryResult:
    deployments: int
    queries_per_tick: int
    sample_ms: float
    observations_ms: float
    known: int


async def _ticks(reader: FleetMetricsReader, deployments: int) -> QueryResult:
    # Wait until every ModelDeployment has a rate (two scrapes in the window).
    deadline = time.monotonic() + 60
    while True:
        sample = await reader.sample()
        known = sum(
            sample.observations("bench", f"md-{i}", 1).request_rate is not None
            for i in range(deployments)
        )
        if known == deployments or time.monotonic() > deadline:
            break
        await asyncio.sleep(1.0)  # next scrape
    before = reader.queries_sent
    started = time.perf_counter()
    sample = await reader.sample()
    sample_s = time.perf_counter() - started
    started = time.perf_counter()
    observed = [sample.observations("bench", f"md-{i}", 1) for i in range(deployments)]
    obs_s = time.perf_counter() - started
    return QueryResult(
        deployments=deployments,
        queries_per_tick=reader.queries_sent - before,
        sample_ms=sample_s * 1000,
        observations_ms=obs_s * 1000,
        known=sum(o.request_rate is not None for o in observed),
    )


SCRAPE_INTERVAL_S = 1.0


def query_settings(prometheus_url: str) -> OperatorSettings:
    """The operator's settings for a Prometheus scraping every ``SCRAPE_INTERVAL_S``."""
    return OperatorSettings(
        prometheus_url=prometheus_url,
        scrape_interval_seconds=SCRAPE_INTERVAL_S,
        rate_window_seconds=5.0,
        stale_after_seconds=10.0,
    )


def bench_queries(deployments: int) -> QueryResult:
    with (
        exporter(deployments) as address,
        PrometheusServer(SCRAPE_INTERVAL_S, honor_labels=True) as prom,
    ):
        prom.set_targets([ScrapeTarget(address, {"job_kind": "bench"})])
        return asyncio.run(_ticks(FleetMetricsReader(query_settings(prom.url)), deployments))


def sim_section(rows: list[dict[str, object]]) -> str:
    """The simulator check (``sim_check.py --out``) as a table."""
    lines = [
        "| scenario | seed | within target | GPU-h | oracle GPU-h | x oracle | best baseline "
        "| its GPU-h | ours over oracle | baseline over oracle | target met |",
        "|---|--:|--:|--:|--:|--:|---|--:|--:|--:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['seed']} | {float(str(r['within_slo'])):.2%} | "
            f"{r['gpu_hours']} | "
            f"{r['oracle_gpu_hours']} | {r['x_oracle']} | {r['best_baseline'] or 'none meets'} | "
            f"{r['best_baseline_gpu_hours'] or '-'} | {r['over_oracle']} | "
            f"{r['best_over_oracle'] or '-'} | {'yes' if r['meets_target'] else 'no'} |"
        )
    slo = sum(1 for r in rows if float(str(r["within_slo"])) >= 0.99)
    compared = [r for r in rows if r["best_baseline_gpu_hours"] is not None]
    cheaper = sum(
        1 for r in compared if float(str(r["gpu_hours"])) < float(str(r["best_baseline_gpu_hours"]))
    )
    summary = (
        f"\n\n>= 99 % of requests within the target in {slo} of {len(rows)} runs; "
        f"cheaper than the best SLO-meeting baseline in {cheaper} of the {len(compared)} "
        f"runs where one exists; the full target met in "
        f"{sum(1 for r in rows if r['meets_target'])} of {len(rows)}."
    )
    return "\n".join(lines) + summary


def _load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "unknown"


def markdown(decisions: DecisionResult, queries: list[QueryResult], sim: str = "") -> str:
    d = decisions
    decision_row = (
        f"| {d.deployments:,} | {d.tick_ms_median:.1f} | {d.tick_ms_p95:.1f} | "
        f"{d.call_us_median:.1f} | {d.call_cpu_us_median:.1f} |"
    )
    rows = "\n".join(
        f"| {q.deployments:,} | {q.queries_per_tick} | {q.sample_ms:.0f} | "
        f"{q.observations_ms:.1f} | {q.known:,} |"
        for q in queries
    )
    return f"""# Autoscaler benchmarks

Command: `.venv/bin/python benchmarks/policy/run.py --out docs/benchmarks/policy.md`
(machine: {platform.machine()}, Python {platform.python_version()}, shared 2-core box).

## Decision time

`decide()` for {decisions.deployments:,} ModelDeployments per tick, each with its own
history (after 60 warm-up ticks) and a varied, moving load; {decisions.ticks} ticks measured.
Target: under 200 µs per call. Wall time on this shared box includes waiting for a core
(load average {_load()} when measured); CPU time is what one idle core would take.

| ModelDeployments | tick median (ms) | tick p95 (ms) | per call (µs) | per call, CPU (µs) |
|---|---|---|---|---|
{decision_row}

## Prometheus queries per tick

A real Prometheus (Debian 2.42) scrapes a synthetic exporter of Triton's metrics
for N pods, one per ModelDeployment. One tick = `FleetMetricsReader.sample()` (one
query, every signal) + `observations()` for every ModelDeployment.

| ModelDeployments | queries per tick | sample (ms) | all observations (ms) | with known rate |
|---|---|---|---|---|
{rows}

The query count does not depend on the number of ModelDeployments: one query
for every signal and the whole fleet, grouped `by (namespace, modeldeployment, pod)`.
Its time does: Prometheus evaluates one query on one core, and the answer (13 series a
pod here) is parsed in the operator. The tick's read must stay within
`GPUFLEET_QUERY_TIMEOUT_SECONDS` (5 s by default), or every ModelDeployment holds, blind,
for that tick ([observability.md](../observability.md#model-pods-the-autoscalers-input)).
{sim}"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks" / "policy.md")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--sim-json", type=Path, default=None, help="rows written by sim_check.py --out"
    )
    args = parser.parse_args()
    decisions = bench_decisions()
    print(json.dumps(decisions.__dict__), flush=True)
    queries = [bench_queries(n) for n in (10, 1000, 10000)]
    for q in queries:
        print(json.dumps(q.__dict__), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sim = ""
    if args.sim_json is not None:
        rows = json.loads(args.sim_json.read_text())
        sim = SIM_HEADER + sim_section(rows) + SIM_NOTES
    args.out.write_text(markdown(decisions, queries, sim))
    if args.json is not None:
        args.json.write_text(
            json.dumps({"decisions": decisions.__dict__, "queries": [q.__dict__ for q in queries]})
        )
    equal = len({q.queries_per_tick for q in queries}) == 1
    return 0 if equal else 1


if __name__ == "__main__":
    sys.exit(main())
