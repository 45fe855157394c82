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

What changed in the latest round (commits b46fbb9 and 68ea66e). The numbers come
from the table above and from `docs/benchmarks/sim.md` and
`docs/benchmarks/sim-suite.md` (`make bench`), at this commit and at 52c3ac4:

- **Pods asked for beyond the measured load are released with a margin**
  (`RELEASE_MARGIN` in `scaling/policy.py`). While a forecast rise, a backlog or a
  measured miss has the fleet sized above its measured load, the scale-down
  window remembers what 10 % more than that load needs, not the bare need: a
  rise seldom ends where its forecast was last renewed, and a pod released on
  the way up comes back a cold start late. A fleet sized for its measured load
  gets no margin. Suite: 24 of 32 scenarios at >= 99 % (20 at 52c3ac4), both at
  1.21x the oracle on average; Azure x3 99.59 % at 4.02 GPU-h (99.41 % at 4.07);
  diurnal seed 0 99.38 % (98.52 %). Bursty seed 0 costs more (11.74 GPU-h, was
  10.70) and stays far below 99 % either way.
- **A reference without foresight** (`reactive` in the simulator). It sees
  every past arrival at once, with no metrics pipeline, and its utilization is
  swept with hindsight (0.60 to 0.90 in steps of 0.02). No autoscaler can run
  like that; it shows what sizing for the recent peak can reach at best. On Azure
  x3 it needs 3.90 GPU-h to keep 99 % (+0.48 over the oracle): less than
  gpufleet's defaults (4.02), but above the 3.81 GPU-h that the
  half-the-best-baseline target allows.

Three changes of this round leave the table unchanged (the simulator's ticks are
exact and its model is right, so none of them triggers there):

- **The one-minute trend window tolerates ticks a few ms off** (`WINDOW_SLACK_S`). It
  required a span of exactly 60 s, which the simulator's ticks have and the operator's,
  read off a clock, never do: the operator's short-window forecast had never fired.
- **A backlog that holds steady is projected at the measured completions**, like
  one that grows.
- **A load measured to miss caps a replica for 10 minutes** (`MISSED_LOAD_MEMORY_S`).
  On a steady load, a settled fleet that the model calls big enough and that misses
  the target has shown a cost the model cannot see, so no replica is given that load
  again for a while. The measured-miss scale-up used to last one scale-down window;
  then the unlearned model released the pods and the miss came back.

The round before (commits fc611fe to 1a3c686); its numbers come from the same
command at commit 588a5ff (before that round), from the benchmark files at
1a3c686, and from `make demo DEMO_ARGS="--no-live --json summary.json"` at the
commits named:

- **A backlog stays on its pods** (`scaling/backlog.py`). A request is queued in
  the pod it was routed to, so pods ordered "to drain a backlog" drain nothing;
  they can only take the new arrivals while the ready pods work through it. The
  policy projects the backlog to the moment new pods could be ready and, if the
  ready pods will still be busy with it then (more than 10 s), orders the
  arrivals replicas of their own on top; if not, it orders nothing. While a
  backlog is queued it never scales down (that would strand a queue). The old
  rule ordered pods after a burst had ended, which came up a cold start later
  to an idle fleet.
- **A measured miss beats the model.** When the measured p95 misses the target
  on a settled fleet (no pod starting, the ready count unchanged for a minute)
  while the model says that fleet meets it, the policy scales up at once, by the
  ratio of the miss (at most double), and remembers it like any measured need;
  the tail factor also learns from such a miss on a fleet the model calls half
  idle; and a backlog is projected at what the ready pods are measured to
  complete when the queue grows where the model says it shrinks. In the
  simulator the model is exact and these rules stay quiet. On the local fleet a
  torch replica's compute time leaves out its HTTP handling (the operator's log
  rates it at about 57 requests/s; it serves about 45). `make demo` at commit
  2e9300d, before these rules: 60 % and 63 % of seconds within target in two
  runs; with the scaling code of 588a5ff checked out over it, 92 % in one; at
  9cb16ba and 05aeb00, with the rules: 88 %, 78 % and 82 %
  (`docs/local-fleet.md`).
- **A pod not yet scraped no longer restarts the scale-down window.** Right after
  a pod becomes ready the load is known only as a lower bound; that tick holds,
  but it used to remember the current size as needed, so every scale-up kept the
  fleet at its peak size for another whole window.
- **The trend is read over the last minute too** (`scaling/demand.py`), not
  only over two cold starts: a rise that follows a flat or falling spell used to
  be acted on only once the long window's halves agreed, about a cold start
  after it began -- too late for pods that take a cold start. This costs GPU
  time on noisy traffic, Azure x3 included, and is what the suite's robustness
  is bought with.
- **`scaling.latencyHeadroom`** (new, default 0.05: the fixed aim of 0.95 the
  policy had): the share of the latency target kept free when sizing. The
  default keeps the p95 the spec promises; users who need ~99 % of requests
  within the target set 0.15 (see below).
- **Scale-down window: one cold start** (was two), the rent-or-buy break-even:
  an idle pod held that long has cost what bringing it back would.

Before this round (commit 588a5ff, the same check with `--seeds 3`): full target
met in 4 of 15 runs; Azure 99.24 % within target at 4.11 GPU-h (1.20x oracle, 0.69
GPU-h over it); step 95.4-96.0 %; bursty 53.5-87.6 %; ramp 99.84-99.89 % at
10.98-11.14 GPU-h; diurnal 99.17-99.66 % at 10.62-10.85 GPU-h.

Reading the table honestly:

- **Step and bursty cannot be met by a policy that does not know the future**
  at a cost the target allows: the load jumps 5x and stays (step) or for 120 s
  (bursty) while new pods take 60 s, and the requests of that minute queue on
  the pods they were routed to. On step, 99 % of the hour's 66,000 requests
  leaves about 660 to miss, so the fleet must already serve about 14 of the 25
  requests/s when the jump comes: about 7 replicas all through the quiet 20
  minutes instead of 3, which alone spends most of what the target allows over
  the oracle. No swept baseline setting reaches 99 % on bursty; on step only KPA
  at concurrency 2 (seed 0), with about twice the replicas all hour. A standing
  reserve for a jump is a `minReplicas` the user chooses, not something a
  cost-minimising autoscaler should guess.
- **Azure x3**: >= 99 % and within 1.25x the oracle, cheaper than every
  baseline at its hindsight-best setting, but the excess over the oracle is not
  half the best baseline's (HPA): +0.60 GPU-h against +0.39 allowed. The
  `reactive` reference in `sim.md` (perfect sensing, no foresight, hindsight
  tuning) is at +0.48: reaching +0.39 takes foresight of the trace that its
  past does not give, and a trend bought that way costs attainment elsewhere.
  Variants that cut it further (a shorter
  scale-down window, a trend shrunk by its standard error, a stricter
  trend-agreement test, cancelling forecast pods while they start, a smaller
  headroom, other rate windows) each lost attainment on other shapes or on the
  suite's other time scales and cold starts; headroom sized from past rate
  changes cost far more than it saved. They were tried in scratch experiments
  and not kept; so were, in this round, a trend weight learned from how much of
  past forecasts came true, tail-factor learning only on a steady load, and a
  plain 10 % scale-down tolerance (more robust, but costlier on every trace).
- **One setting for all traffic** (`sim-suite.md`, 32 scenarios): gpufleet's
  defaults keep >= 99 % on 24 at 1.21x the oracle's GPU-hours, and with
  `latencyHeadroom: 0.15` on 28 at 1.32x. The cheapest fixed baseline settings
  that do as well: HPA at 3 queued per pod keeps 26 at 1.50x; KEDA at 2 keeps
  29 at 1.82x. Where the defaults miss: the Azure trace at x2.5, which starts
  with a ramp the first minute's fleet cannot follow; Azure x3 with 30 s and 90 s
  cold starts; rises of 30-40 % within two minutes met by a 90-120 s cold start
  (Azure x5), which only headroom held all along survives; diurnal with a 120 s
  cold start, seed 1 (98.73 %).
"""
TICK_S = 5.0


@dataclass
class DecisionResult:
    deployments: int
    ticks: int
    tick_ms_median: float
    tick_ms_p95: float
    call_us_median: float


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

    def one_tick(t: int) -> float:
        now = t * TICK_S
        started = time.perf_counter()
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
                compute_ms_per_exec=40.0 + 10.0 * batch,
                inferences_per_exec=batch,
                failure_rate=0.0,
                pods_reporting=replicas[i],
            )
            fleet = FleetState(replicas[i], replicas[i], 1, 1.0)
            d = decide(spec, fleet, obs, histories[i], now)
            histories[i] = d.history
            replicas[i] = d.desired_replicas
        return time.perf_counter() - started

    for t in range(warmup_ticks):
        one_tick(t)
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


def bench_queries(deployments: int) -> QueryResult:
    with exporter(deployments) as address, PrometheusServer(1.0, honor_labels=True) as prom:
        prom.set_targets([ScrapeTarget(address, {"job_kind": "bench"})])
        settings = OperatorSettings(
            prometheus_url=prom.url, rate_window_seconds=5.0, stale_after_seconds=10.0
        )
        return asyncio.run(_ticks(FleetMetricsReader(settings), deployments))


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


def markdown(decisions: DecisionResult, queries: list[QueryResult], sim: str = "") -> str:
    d = decisions
    decision_row = (
        f"| {d.deployments:,} | {d.tick_ms_median:.1f} | {d.tick_ms_p95:.1f} | "
        f"{d.call_us_median:.1f} |"
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

| ModelDeployments | tick median (ms) | tick p95 (ms) | per call, median (µs) |
|---|---|---|---|
{decision_row}

## Prometheus queries per tick

A real Prometheus (Debian 2.42) scrapes a synthetic exporter of Triton's metrics
for N pods, one per ModelDeployment. One tick = `FleetMetricsReader.sample()` (the
queries, run concurrently) + `observations()` for every ModelDeployment.

| ModelDeployments | queries per tick | sample (ms) | all observations (ms) | with known rate |
|---|---|---|---|---|
{rows}

The query count does not depend on the number of ModelDeployments: one
query per signal for the whole fleet, grouped `by (namespace, modeldeployment, pod)`.
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
    queries = [bench_queries(n) for n in (10, 1000)]
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
