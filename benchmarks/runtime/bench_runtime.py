"""Throughput and latency of gpufleet-server: its Triton mode against Triton on the same
TorchScript model, and its LLM mode's tokens/s, TTFT and ITL at 1, 8 and 32 streams.

Triton part: both servers get the same model file, the same dynamic batching settings
(max batch size and max queue delay) and the same torch thread count, and are driven by the
same closed-loop tritonclient load (asyncio clients, batch-1 requests) at several
concurrencies, over HTTP and gRPC. LLM part: see llm_bench.py. Results go to
docs/benchmarks/runtime.md; a part not run keeps its section from the file.

    .venv/bin/python benchmarks/runtime/bench_runtime.py [--parts triton llm]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import glob
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import tritonclient.grpc.aio as grpc_aio
import tritonclient.http.aio as http_aio
from llm_bench import HEADING as LLM_HEADING
from llm_bench import llm_report, measure_llm

from gpufleet_devtools.runtime.example_models import Mlp, mlp_config, write_model
from gpufleet_devtools.runtime.process import free_port, http_status, start_server
from gpufleet_devtools.waiting import wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS = REPO_ROOT / "docs" / "benchmarks" / "runtime.md"
MODEL = "mlp"
IN_FEATURES, HIDDEN, OUT_FEATURES = 256, 1024, 256
MAX_BATCH_SIZE = 32
QUEUE_DELAY_US = 1000
TORCH_THREADS = 1  # the same for both servers; the load generator needs the other core


@dataclass(frozen=True)
class Result:
    server: str
    protocol: str
    concurrency: int
    requests: int
    throughput: float  # requests per second
    p50_ms: float
    p99_ms: float
    server_cpu_us: float  # server CPU time (all its processes) per request


InferOnce = Callable[[], Awaitable[None]]


async def closed_loop(
    infer: InferOnce, concurrency: int, warmup_s: float, measure_s: float
) -> list[float]:
    """``concurrency`` clients each send a request as soon as their previous one returns;
    returns the latencies (seconds) of requests sent inside the measuring window."""
    latencies: list[float] = []
    start = time.perf_counter()
    measure_from, stop_at = start + warmup_s, start + warmup_s + measure_s

    async def client() -> None:
        while (sent := time.perf_counter()) < stop_at:
            await infer()
            if sent >= measure_from:
                latencies.append(time.perf_counter() - sent)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies


async def drive(
    ports: list[int], protocol: str, concurrency: int, warmup_s: float, measure_s: float
) -> list[float]:
    x = np.random.default_rng(0).standard_normal((1, IN_FEATURES)).astype(np.float32)
    if protocol == "http":
        http_client = http_aio.InferenceServerClient(
            f"127.0.0.1:{ports[0]}", conn_limit=concurrency
        )
        http_input = http_aio.InferInput("INPUT0", list(x.shape), "FP32")
        http_input.set_data_from_numpy(x)

        async def infer_http() -> None:
            (await http_client.infer(MODEL, [http_input])).as_numpy("OUTPUT0")

        try:
            return await closed_loop(infer_http, concurrency, warmup_s, measure_s)
        finally:
            await http_client.close()
    grpc_client = grpc_aio.InferenceServerClient(f"127.0.0.1:{ports[1]}")
    grpc_input = grpc_aio.InferInput("INPUT0", list(x.shape), "FP32")
    grpc_input.set_data_from_numpy(x)

    async def infer_grpc() -> None:
        (await grpc_client.infer(MODEL, [grpc_input])).as_numpy("OUTPUT0")

    try:
        return await closed_loop(infer_grpc, concurrency, warmup_s, measure_s)
    finally:
        await grpc_client.close()


def process_tree_cpu_s(root: int) -> float:
    """User+system CPU seconds of a process and all its descendants (Linux /proc): the
    servers' cost per request, which other work on a shared machine disturbs far less than
    latency."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    ticks = os.sysconf("SC_CLK_TCK")
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        pid = int(stat.split("/")[2])
        parents[pid] = int(fields[1])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        tree.update(children)
        frontier += children
    return sum(cpu.get(pid, 0.0) for pid in tree)


def summarize(
    server: str,
    protocol: str,
    concurrency: int,
    latencies: list[float],
    measure_s: float,
    server_cpu_s: float,
) -> Result:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return Result(
        server,
        protocol,
        concurrency,
        len(ordered),
        len(ordered) / measure_s,
        statistics.median(ordered) * 1e3,
        p99 * 1e3,
        server_cpu_s / max(1, len(ordered)) * 1e6,
    )


def build_repository(repo: Path) -> Path:
    return write_model(
        repo,
        MODEL,
        Mlp(0, IN_FEATURES, HIDDEN, OUT_FEATURES),
        mlp_config(MODEL, MAX_BATCH_SIZE, QUEUE_DELAY_US, IN_FEATURES, OUT_FEATURES),
    )


class TritonProcess:
    """The pytriton-bundled tritonserver serving the same weights (see triton_reference.py)."""

    def __init__(self, weights: Path, log_path: Path) -> None:
        self.ports = [free_port() for _ in range(3)]
        self.log_file = log_path.open("wb")
        command = [
            sys.executable, str(Path(__file__).with_name("triton_reference.py")),
            "--weights", str(weights), "--model-name", MODEL,
            "--in-features", str(IN_FEATURES), "--out-features", str(OUT_FEATURES),
            "--max-batch-size", str(MAX_BATCH_SIZE), "--queue-delay-us", str(QUEUE_DELAY_US),
            "--ports", *map(str, self.ports),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, "OMP_NUM_THREADS": str(TORCH_THREADS)},
        )
        url = f"http://127.0.0.1:{self.ports[0]}/v2/models/{MODEL}/ready"

        def up() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"Triton exited early, see {log_path}")
            return http_status(url) == 200

        wait_for(up, timeout=180, what="Triton to become ready")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)  # pytriton shuts tritonserver down on SIGINT
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log_file.close()
        # pytriton leaves its workspace and shared-memory segments behind when interrupted.
        for leftover in glob.glob(os.path.expanduser("~/.cache/pytriton/workspace_*")):
            shutil.rmtree(leftover, ignore_errors=True)
        for segment in glob.glob("/dev/shm/pytriton*") + glob.glob("/dev/shm/pytrtion*"):
            Path(segment).unlink(missing_ok=True)


def median_result(rounds: list[Result]) -> Result:
    """Per-metric median over rounds: robust to a round hit by other work on the machine."""
    first = rounds[0]
    return Result(
        first.server,
        first.protocol,
        first.concurrency,
        sum(r.requests for r in rounds),
        statistics.median(r.throughput for r in rounds),
        statistics.median(r.p50_ms for r in rounds),
        statistics.median(r.p99_ms for r in rounds),
        statistics.median(r.server_cpu_us for r in rounds),
    )


@dataclass(frozen=True)
class Target:
    ports: list[int]  # HTTP, gRPC
    pid: int


def measure(
    servers: dict[str, Target],
    concurrencies: list[int],
    rounds: int,
    warmup_s: float,
    measure_s: float,
) -> list[Result]:
    """Both servers run side by side and are measured alternately, point by point, in
    alternating order, so drift in the load of this shared machine hits both alike."""
    results = []
    for protocol in ("http", "grpc"):
        for concurrency in concurrencies:
            per_round: dict[str, list[Result]] = {server: [] for server in servers}
            for round_index in range(rounds):
                order = list(servers.items())
                for server, target in order if round_index % 2 == 0 else reversed(order):
                    cpu_before = process_tree_cpu_s(target.pid)
                    latencies = asyncio.run(
                        drive(target.ports, protocol, concurrency, warmup_s, measure_s)
                    )
                    # Includes the warm-up's requests: a slight overestimate, alike for both.
                    cpu_s = process_tree_cpu_s(target.pid) - cpu_before
                    per_round[server].append(
                        summarize(server, protocol, concurrency, latencies, measure_s, cpu_s)
                    )
            for server_rounds in per_round.values():
                result = median_result(server_rounds)
                print(result, flush=True)
                results.append(result)
    return results


def report(
    results: list[Result], command: str, rounds: int, measure_s: float, load: tuple[float, float]
) -> str:
    triton = {(r.protocol, r.concurrency): r for r in results if r.server == "triton"}
    lines = [
        "# Torch runtime vs Triton: throughput and latency",
        "",
        f"Measured {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC on "
        f"{platform.machine()} with {os.cpu_count()} CPUs, no GPU; torch {torch.__version__}; "
        "Triton = the tritonserver bundled with nvidia-pytriton (Python backend).",
        "",
        f"Model: TorchScript MLP {IN_FEATURES}->{HIDDEN}->{OUT_FEATURES} (FP32), max_batch_size "
        f"{MAX_BATCH_SIZE}, max_queue_delay_microseconds {QUEUE_DELAY_US}, torch threads "
        f"{TORCH_THREADS} in both servers. Load: closed-loop asyncio tritonclient clients "
        f"sending batch-1 requests; each point is the median over {rounds} rounds of "
        f"{measure_s:g} s (after a short warm-up each). The load generator shares the machine "
        "with the servers; both servers run side by side and are measured alternately, in "
        "alternating order, so load from other work on this shared machine hits both alike.",
        f"1-minute load average of the machine before/after the run: {load[0]:.1f}/{load[1]:.1f} "
        "(other engineers' work shares it, so latencies vary between runs; the server CPU "
        "time per request varies much less).",
        "",
        f"Command: `{command}`",
        "",
        "| protocol | concurrency | server | req/s | p50 ms | p99 ms | server CPU us/req "
        "| throughput vs Triton | p99 <= Triton |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(results, key=lambda r: (r.protocol, r.concurrency, r.server != "triton")):
        reference = triton.get((r.protocol, r.concurrency))
        ratio = f"{r.throughput / reference.throughput:.2f}x" if reference else "-"
        p99_ok = "yes" if reference and r.p99_ms <= reference.p99_ms else "no"
        if r.server == "triton" or reference is None:
            p99_ok = "-"
        lines.append(
            f"| {r.protocol} | {r.concurrency} | {r.server} | {r.throughput:.0f} | "
            f"{r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.server_cpu_us:.0f} | {ratio} | {p99_ok} |"
        )
    lines += ["", *CAVEATS]
    return "\n".join(lines) + "\n"


CAVEATS = (
    "What this does and does not show:",
    "",
    "* The Triton side is the only Triton available here: the CPU `tritonserver` that PyPI's "
    "nvidia-pytriton bundles, which has no PyTorch (libtorch) backend, so it runs the same "
    "TorchScript file through its Python backend (request data crosses to the pytriton "
    "process through shared memory). Triton's C++ libtorch backend on a GPU was not measured.",
    "* `server CPU us/req` is the user+system CPU time of each server's whole process tree "
    "divided by the requests answered: the cost per request, much steadier than latency on a "
    "shared machine.",
    "* p99 over 2 s rounds rests on a few dozen to a few hundred slowest requests and moves "
    "between runs with the machine's load; compare several runs before concluding from one "
    "row.",
)


def _existing_sections(path: Path) -> tuple[str, str]:
    """The Triton and LLM sections of an earlier report (empty when absent)."""
    if not path.exists():
        return "", ""
    text = path.read_text()
    triton, marker, llm = text.partition(LLM_HEADING)
    return triton.rstrip() + "\n" if triton.strip() else "", marker + llm if marker else ""


def _commit() -> str:
    """The commit measured, and whether the server's sources differed from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "inference-image/gpufleet_server")
    return commit + (" with uncommitted changes to the server" if dirty else "")


def _environment() -> str:
    return (
        f"Measured {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC at commit "
        f"{_commit()} on "
        f"{platform.machine()} with {os.cpu_count()} CPUs, no GPU; torch {torch.__version__}; "
        f"1-minute load average before the run: {os.getloadavg()[0]:.1f} (other engineers' "
        "work shares the machine)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="gpufleet-server benchmarks")
    parser.add_argument("--parts", nargs="+", choices=("triton", "llm"), default=["triton", "llm"])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup-s", type=float, default=0.3)
    parser.add_argument("--measure-s", type=float, default=2.0)
    parser.add_argument("--llm-measure-s", type=float, default=8.0)
    # More rounds than the Triton part: one LLM round is shorter than the swings in this shared
    # machine's load, and the median over alternating rounds is what absorbs them.
    parser.add_argument("--llm-rounds", type=int, default=5)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    triton_section, llm_section = _existing_sections(args.output)
    command = " ".join(["python benchmarks/runtime/bench_runtime.py", *sys.argv[1:]])
    with tempfile.TemporaryDirectory(prefix="bench-runtime-") as scratch:
        work = Path(scratch)
        if "llm" in args.parts:
            environment = _environment()
            llm_results = measure_llm(
                work, args.concurrency, args.llm_rounds, 1.0, args.llm_measure_s, TORCH_THREADS
            )
            llm_section = llm_report(
                llm_results,
                command,
                args.llm_rounds,
                args.llm_measure_s,
                TORCH_THREADS,
                environment,
            )
        if "triton" in args.parts:
            triton_section = measure_triton(work, args, command)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(part for part in (triton_section, llm_section) if part))
    print(f"wrote {args.output}")


def measure_triton(work: Path, args: argparse.Namespace, command: str) -> str:
    load_before = os.getloadavg()[0]
    weights = build_repository(work / "models")
    ours = start_server(work / "models", work / "gpufleet-server.log", torch_threads=TORCH_THREADS)
    try:
        triton = TritonProcess(weights, work / "triton.log")
        try:
            servers = {
                "gpufleet-server": Target([ours.http_port, ours.grpc_port], ours.process.pid),
                "triton": Target(triton.ports[:2], triton.process.pid),
            }
            results = measure(servers, args.concurrency, args.rounds, args.warmup_s, args.measure_s)
        finally:
            triton.stop()
    finally:
        ours.stop()
    return report(results, command, args.rounds, args.measure_s, (load_before, os.getloadavg()[0]))


if __name__ == "__main__":
    main()
