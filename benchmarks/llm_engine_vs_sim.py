"""Does the simulator's LLM engine predict gpufleet-server's LLM mode? One replica, one
trace window, both engines, compared request by request.

1. One ``gpufleet-server --mode llm`` with the local LLM demo's emulated GPU (each
   iteration holds it for 20 ms + 0.5 ms per decoding sequence + 0.05 ms per prompt token
   prefilled), KV cache and limits, and a token budget per iteration
   (``--max-num-batched-tokens``): 256, which most of the trace's prompts exceed, so they
   are prefilled in chunks; vLLM's 2,048; and 4,096, the whole context (every prompt
   prefilled in one iteration).
2. The Azure conversation trace's arrivals with their own token counts, as the LLM demo
   replays them (prompts clipped to the context), streamed at the server open loop;
   every token timed at the client.
3. ``gpufleet sim``'s token-level replica with the same costs, limits and budget (the
   profile the emulated device implements) replays the very same requests; and again
   with the profile ``gpufleet profile --llm`` measured on that server before the replay,
   the way a user calibrates the simulator.

Compared: TTFT and each request's time per output token (TPOT, its mean gap between
tokens), their medians and p95s, and the share of requests with TTFT <= 1,000 ms and
TPOT <= 100 ms (the LLM demo's targets, its ITL one held against the mean gap). What
the simulator leaves out is what the server adds: HTTP and SSE, the engine loop's own
work between iterations, and this machine's scheduling.

    make bench-llm-engine    # about 5 minutes on 2 cores (the replica near its KV capacity)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from gpufleet.profiling.llm import LlmPlan, profile_llm
from gpufleet.sim.llm import LlmProfile, LlmReplica
from gpufleet.sim.replica import PodState
from gpufleet.sim.request_log import RequestLog
from gpufleet.sim.scheduler import Scheduler
from gpufleet.sim.trace import Trace
from gpufleet.sim.trace_files import load_trace
from gpufleet_devtools.local.llm_loadgen import LlmLoadGenerator, StreamRecord
from gpufleet_devtools.local.llm_trace import StreamRequests, replay_streams, token_trace
from gpufleet_devtools.local.paths import DEFAULT_TRACE
from gpufleet_devtools.runtime.process import start_server

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "benchmarks" / "llm-engine-vs-sim.md"
TTFT_TARGET_MS = 1000.0
TPOT_TARGET_MS = 100.0
MAX_MODEL_LEN = 4096
PROFILE = LlmProfile(
    name="local-llm-demo-emulated-gpu",
    decode_base_ms=20.0,
    decode_ms_per_seq=0.5,
    prefill_ms_per_token=0.05,
    kv_tokens=32768,
    max_num_seqs=64,
)
TINY_MODEL = ["--num-layers", "1", "--hidden-size", "16", "--num-heads", "2"]


@dataclass(frozen=True)
class Outcome:
    """One engine's requests: TTFT and time per output token (ms) of each answered one."""

    ttft_ms: list[float]
    tpot_ms: list[float]
    failed: int

    def within(self, total: int) -> float:
        ok = sum(
            t <= TTFT_TARGET_MS and g <= TPOT_TARGET_MS
            for t, g in zip(self.ttft_ms, self.tpot_ms, strict=True)
        )
        return ok / total


class OneServer:
    """The load generator's endpoints: the one server."""

    def __init__(self, address: str) -> None:
        self.address = address

    def next(self) -> str:
        return self.address


def server_args(budget: int) -> list[str]:
    return [
        "--max-model-len", str(MAX_MODEL_LEN), "--max-num-batched-tokens", str(budget),
        "--max-num-seqs", str(PROFILE.max_num_seqs), "--kv-cache-tokens", str(PROFILE.kv_tokens),
        *TINY_MODEL,
        "--emulate-decode-base-ms", f"{PROFILE.decode_base_ms:g}",
        "--emulate-decode-ms-per-seq", f"{PROFILE.decode_ms_per_seq:g}",
        "--emulate-prefill-ms-per-token", f"{PROFILE.prefill_ms_per_token:g}",
    ]  # fmt: skip


def mean_gap_ms(stream: StreamRecord) -> float:
    stamps = stream.token_s
    return 0.0 if len(stamps) < 2 else 1000.0 * (stamps[-1] - stamps[0]) / (len(stamps) - 1)


def on_the_server(requests: StreamRequests, budget: int, logs: Path) -> tuple[Outcome, LlmProfile]:
    """The replay's outcome, and the profile ``gpufleet profile --llm`` measured on the same
    server just before it."""
    server = start_server(None, logs / f"server-{budget}.log", server_args(budget))
    try:
        plan = LlmPlan(
            url=f"http://127.0.0.1:{server.http_port}",
            model="gpufleet-llm",
            kv_tokens=PROFILE.kv_tokens,
            max_num_seqs=PROFILE.max_num_seqs,
            max_num_batched_tokens=budget,
        )
        measured = profile_llm(plan)
        generator = LlmLoadGenerator(
            OneServer(f"127.0.0.1:{server.http_port}"),  # type: ignore[arg-type]
            "gpufleet-llm",
            TTFT_TARGET_MS,
        )
        streams = asyncio.run(generator.run(requests))
    finally:
        server.stop()
    ok = [s for s in streams if s.ok and s.ttft_s is not None]
    outcome = Outcome(
        [1000.0 * (s.ttft_s or 0.0) for s in ok],
        [mean_gap_ms(s) for s in ok],
        len(streams) - len(ok),
    )
    return outcome, measured


def in_the_simulator(requests: StreamRequests, profile: LlmProfile) -> Outcome:
    arrivals = np.asarray(requests.arrivals.offsets, dtype=float)
    trace = Trace(
        "replayed",
        arrivals,
        prompt_tokens=np.asarray(requests.prompt_tokens, dtype=float),
        output_tokens=np.asarray(requests.max_tokens, dtype=float),
    )
    log = RequestLog.for_trace(trace)
    sched = Scheduler()
    replica = LlmReplica(0, 0.0, profile, log, sched, timeout_s=600.0)
    replica.state = PodState.READY
    for rid, at in enumerate(arrivals):
        sched.at(float(at), partial(replica.accept, rid))
    while sched.heap:
        sched.run_next()
    assert log.ttft is not None
    assert log.tpot is not None
    answered = [i for i, failed in enumerate(log.failed) if not failed]
    return Outcome(
        [1000.0 * log.ttft[i] for i in answered],
        [1000.0 * log.tpot[i] for i in answered],
        len(log.failed) - len(answered),
    )


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + (" with uncommitted changes" if git("status", "--porcelain") else "")


def quantile(values: list[float], q: float) -> float:
    return float(np.quantile(values, q)) if values else float("nan")


def row(name: str, outcome: Outcome, total: int) -> str:
    return (
        f"| {name} | {quantile(outcome.ttft_ms, 0.5):.0f} / {quantile(outcome.ttft_ms, 0.95):.0f} "
        f"| {quantile(outcome.tpot_ms, 0.5):.1f} / {quantile(outcome.tpot_ms, 0.95):.1f} "
        f"| {outcome.within(total):.1%} | {outcome.failed} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=90.0)
    parser.add_argument("--speedup", type=float, default=19.5)
    parser.add_argument("--rate-scale", type=float, default=0.02)
    parser.add_argument("--budgets", default="256,2048,4096")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    started = time.monotonic()
    trace = token_trace(load_trace(str(DEFAULT_TRACE), llm=True))
    requests = replay_streams(
        trace, args.duration_s, args.speedup, args.rate_scale, MAX_MODEL_LEN, DEFAULT_TRACE.name
    )
    total = len(requests.prompt_tokens)
    prompts = requests.prompt_tokens
    command = " ".join(["python", "benchmarks/llm_engine_vs_sim.py", *(argv or sys.argv[1:])])
    lines = [
        "# The simulator's LLM engine against gpufleet-server's LLM mode, one replica",
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
        f"at commit {commit()} (`make bench-llm-engine`; how: the script's docstring).",
        "",
        f"Requests: {requests.arrivals.description}: {total} streams in "
        f"{args.duration_s:g} s, prompts of {statistics.mean(prompts):.0f} tokens on average "
        f"(up to {max(prompts)}; {requests.clipped} clipped to the {MAX_MODEL_LEN}-token "
        f"context), answers of {statistics.mean(requests.max_tokens):.0f}. Replica: "
        f"iteration {PROFILE.decode_base_ms:g} ms + {PROFILE.decode_ms_per_seq:g} ms per "
        f"decoding sequence + {PROFILE.prefill_ms_per_token:g} ms per prompt token "
        f"prefilled; KV cache {PROFILE.kv_tokens:,} tokens; {PROFILE.max_num_seqs} sequences. "
        f"Within: TTFT <= {TTFT_TARGET_MS:g} ms and TPOT <= {TPOT_TARGET_MS:g} ms.",
        "",
        "| engine, tokens an iteration | TTFT p50 / p95 (ms) | TPOT p50 / p95 (ms) | within "
        "| failed |",
        "|---|---|---|---|---|",
    ]
    fits: list[str] = []
    with tempfile.TemporaryDirectory() as logs:
        for budget in (int(b) for b in args.budgets.split(",")):
            served, measured = on_the_server(requests, budget, Path(logs))
            known = PROFILE.model_copy(update={"max_num_batched_tokens": budget})
            lines += [
                row(f"gpufleet-server, {budget}", served, total),
                row(f"gpufleet sim, {budget}", in_the_simulator(requests, known), total),
                row(
                    f"gpufleet sim, {budget}, profile measured",
                    in_the_simulator(requests, measured),
                    total,
                ),
            ]
            fits.append(
                f"- {budget} tokens an iteration: {measured.decode_base_ms:.1f} ms + "
                f"{measured.decode_ms_per_seq:.2f} ms per sequence + "
                f"{measured.prefill_ms_per_token:.3f} ms per prompt token"
            )
            print("\n".join(lines[-3:]), flush=True)
    lines += [
        "",
        "'profile measured': the simulator with the profile `gpufleet profile --llm` fitted on "
        "that server just before the replay (TTFT alone by prompt length, inter-token gaps by "
        "concurrent streams, HTTP included), instead of the emulated device's own costs:",
        *fits,
        "",
        f"Run time {time.monotonic() - started:.0f} s.",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
