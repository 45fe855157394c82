"""The demo's terminal: a live panel while it runs, a summary table at the end (rich)."""

from __future__ import annotations

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from gpufleet_devtools.local.summary import DemoSummary, StreamSummary
from gpufleet_devtools.local.timeline import Sample

HISTORY_ROWS = 12


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _against(value: float | None, target: float | None) -> Text:
    text = Text(_ms(value))
    if value is not None and target is not None:
        text.stylize("green" if value <= target else "red")
    return text


def _fleet_cells(s: Sample) -> list[str]:
    return [
        "-" if s.queue_depth is None else f"{s.queue_depth:.1f}",
        f"{s.ready}/{s.desired if s.desired is not None else '-'}",
        str(s.starting),
    ]


class LiveView:
    """Last seconds as rows; the newest row shows the autoscaler's last reason.

    ``llm_targets`` (TTFT, ITL p95 ms): an LLM demo, whose rows show streams, tokens/s,
    TTFT and ITL against their targets and the KV cache instead of whole requests.
    """

    def __init__(
        self,
        console: Console,
        target_p95_ms: float | None,
        duration_s: float,
        llm_targets: tuple[float | None, float | None] | None = None,
    ) -> None:
        self._console = console
        self._target = target_p95_ms
        self._llm_targets = llm_targets
        self._duration = duration_s
        self._rows: list[Sample] = []
        self._live = Live(console=console, refresh_per_second=2, transient=False)

    def __enter__(self) -> LiveView:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(None, None, None)

    def update(self, sample: Sample) -> None:
        self._rows = [*self._rows, sample][-HISTORY_ROWS:]
        self._live.update(self._render())

    def _render(self) -> Group:
        table = Table(title="gpufleet local demo", expand=False)
        columns: tuple[str, ...]
        if self._llm_targets is None:
            columns = ("t s", "sent/s", "served/s", "in flight", "queue", "replicas",
                       "starting", "p95 ms", "target", "$/h", "failed", "metrics")  # fmt: skip
        else:
            ttft, itl = self._llm_targets
            columns = ("t s", "streams/s", "open", "tokens/s", "queue", "replicas", "starting",
                       f"TTFT p95 ms (<= {_ms(ttft)})", f"ITL p95 ms (<= {_ms(itl)})", "KV",
                       "$/h", "failed", "metrics")  # fmt: skip
        for column in columns:
            table.add_column(column, justify="right")
        for s in self._rows:
            head = [f"{s.t:.0f}/{self._duration:.0f}", f"{s.sent_rps:.0f}"]
            tail = [
                "-" if s.hourly_cost is None else f"{s.hourly_cost:.2f}",
                str(s.failed_total),
                s.metrics_available,
            ]
            if self._llm_targets is None:
                table.add_row(
                    *head,
                    f"{s.ok_rps:.0f}",
                    str(s.in_flight),
                    *_fleet_cells(s),
                    _against(s.p95_ms, self._target),
                    _ms(self._target),
                    *tail,
                )
            else:
                table.add_row(
                    *head,
                    str(s.in_flight),
                    "-" if s.tokens_per_s is None else f"{s.tokens_per_s:,.0f}",
                    *_fleet_cells(s),
                    _against(s.ttft_p95_ms, self._llm_targets[0]),
                    _against(s.itl_p95_ms, self._llm_targets[1]),
                    "-" if s.kv_cache_usage is None else f"{s.kv_cache_usage:.0%}",
                    *tail,
                )
        reason = self._rows[-1].reason if self._rows else ""
        return Group(table, Text(f"last decision: {reason or '(none yet)'}", style="bold"))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} %"


def _three(values: tuple[float | None, ...]) -> str:
    return " / ".join(_ms(v) for v in values) + " ms"


def _stream_rows(llm: StreamSummary) -> list[tuple[str, str]]:
    return [
        ("TTFT p50 / p95 / p99", _three((llm.ttft_p50_ms, llm.ttft_p95_ms, llm.ttft_p99_ms))),
        ("TTFT target (p95)", f"{_ms(llm.target_ttft_p95_ms)} ms"),
        ("seconds within TTFT target", _pct(llm.seconds_within_ttft_pct)),
        ("ITL p50 / p95 / p99", _three((llm.itl_p50_ms, llm.itl_p95_ms, llm.itl_p99_ms))),
        ("ITL target (p95)", f"{_ms(llm.target_itl_p95_ms)} ms"),
        ("seconds within ITL target", _pct(llm.seconds_within_itl_pct)),
        (
            "tokens out (mean / peak tokens/s)",
            f"{llm.tokens:,} ({llm.tokens_per_s_mean:,.0f} / {llm.tokens_per_s_max:,.0f})",
        ),
        ("prompt tokens (clipped prompts)", f"{llm.prompt_tokens:,} ({llm.clipped_prompts})"),
        (
            "KV cache, fullest pod: mean / max",
            "-"
            if llm.kv_cache_usage_mean is None or llm.kv_cache_usage_max is None
            else f"{llm.kv_cache_usage_mean:.0%} / {llm.kv_cache_usage_max:.0%}",
        ),
    ]


def summary_table(summary: DemoSummary) -> Table:
    table = Table(title="gpufleet local demo: summary", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    latency = _three((summary.latency_p50_ms, summary.latency_p95_ms, summary.latency_p99_ms))
    llm = summary.llm
    if llm is None:
        requests = [
            ("requests (failed)", f"{summary.requests:,} ({summary.failed:,})"),
            ("latency p50 / p95 / p99", latency),
            ("target p95", f"{_ms(summary.target_p95_ms)} ms"),
            ("seconds within target", _pct(summary.seconds_within_target_pct)),
        ]
    else:
        requests = [
            ("streams (failed)", f"{summary.requests:,} ({summary.failed:,})"),
            *_stream_rows(llm),
            ("stream duration p50 / p95 / p99", latency),
        ]
    rows = [
        ("trace", summary.trace),
        ("duration", f"{summary.duration_s:.0f} s"),
        *requests,
        (
            "replicas min / mean / max",
            f"{summary.replicas_min} / {summary.replicas_mean:.1f} / {summary.replicas_max}",
        ),
        ("scale-ups / scale-downs", f"{summary.scale_ups} / {summary.scale_downs}"),
        ("cost of the run", f"{summary.cost_usd:.4f} $"),
        ("peak $/h (budget)", f"{summary.max_hourly_cost:.2f} ({summary.budget_hourly or '-'})"),
        ("last decision", summary.last_reason or "-"),
        ("plot", summary.plot or "-"),
    ]
    for what, value in rows:
        table.add_row(what, value)
    return table
