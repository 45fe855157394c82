"""The demo's terminal: a live panel while it runs, a summary table at the end (rich)."""

from __future__ import annotations

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from gpufleet_devtools.local.summary import DemoSummary
from gpufleet_devtools.local.timeline import Sample

HISTORY_ROWS = 12


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


class LiveView:
    """Last seconds as rows; the newest row shows the autoscaler's last reason."""

    def __init__(self, console: Console, target_p95_ms: float, duration_s: float) -> None:
        self._console = console
        self._target = target_p95_ms
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
        for column in ("t s", "sent/s", "served/s", "in flight", "queue", "replicas",
                       "starting", "p95 ms", "target", "$/h", "failed", "metrics"):  # fmt: skip
            table.add_column(column, justify="right")
        for s in self._rows:
            p95 = Text(_ms(s.p95_ms))
            if s.p95_ms is not None:
                p95.stylize("green" if s.p95_ms <= self._target else "red")
            table.add_row(
                f"{s.t:.0f}/{self._duration:.0f}",
                f"{s.sent_rps:.0f}",
                f"{s.ok_rps:.0f}",
                str(s.in_flight),
                "-" if s.queue_depth is None else f"{s.queue_depth:.1f}",
                f"{s.ready}/{s.desired if s.desired is not None else '-'}",
                str(s.starting),
                p95,
                _ms(self._target),
                "-" if s.hourly_cost is None else f"{s.hourly_cost:.2f}",
                str(s.failed_total),
                s.metrics_available,
            )
        reason = self._rows[-1].reason if self._rows else ""
        return Group(table, Text(f"last decision: {reason or '(none yet)'}", style="bold"))


def summary_table(summary: DemoSummary) -> Table:
    table = Table(title="gpufleet local demo: summary", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    within = summary.seconds_within_target_pct
    rows = [
        ("trace", summary.trace),
        ("duration", f"{summary.duration_s:.0f} s"),
        ("requests (failed)", f"{summary.requests:,} ({summary.failed:,})"),
        (
            "latency p50 / p95 / p99",
            " / ".join(
                _ms(v)
                for v in (summary.latency_p50_ms, summary.latency_p95_ms, summary.latency_p99_ms)
            )
            + " ms",
        ),
        ("target p95", f"{summary.target_p95_ms:.0f} ms"),
        ("seconds within target", "-" if within is None else f"{within:.0f} %"),
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
