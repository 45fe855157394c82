"""The demo's picture: load, replicas and latency over time (matplotlib, no display)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gpufleet_devtools.local.timeline import Sample


def plot_timeline(samples: Sequence[Sample], target_p95_ms: float | None, path: Path) -> Path:
    """Load, replicas and latency; an LLM run (TTFT known) plots its TTFT and ITL p95."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s.t for s in samples]
    figure, (load, replicas, latency) = plt.subplots(3, 1, sharex=True, figsize=(10, 8))
    load.plot(t, [s.sent_rps for s in samples], label="sent req/s", color="tab:blue")
    load.plot(t, [s.ok_rps for s in samples], label="served req/s", color="tab:green", alpha=0.7)
    load.set_ylabel("requests/s")
    load.legend(loc="upper right")
    replicas.step(t, [s.desired or 0 for s in samples], where="post", label="desired")
    replicas.step(t, [s.ready for s in samples], where="post", label="ready")
    replicas.set_ylabel("replicas")
    replicas.legend(loc="upper right")
    llm = any(s.ttft_p95_ms is not None for s in samples)
    series = (
        [("ttft_p95_ms", "TTFT p95", "tab:red"), ("itl_p95_ms", "ITL p95", "tab:purple")]
        if llm
        else [("p95_ms", "p95", "tab:red")]
    )
    for field, label, color in series:
        values = [getattr(s, field) for s in samples]
        latency.plot(t, [float("nan") if v is None else v for v in values],
                     label=f"{label} (5 s window, client)", color=color)  # fmt: skip
    if target_p95_ms is not None:
        latency.axhline(
            target_p95_ms,
            linestyle="--",
            color="black",
            label="TTFT target p95" if llm else "target p95",
        )
    latency.set_ylabel("latency ms")
    latency.set_yscale("log")
    latency.set_xlabel("seconds")
    latency.legend(loc="upper right")
    figure.suptitle("gpufleet local demo: replicas follow the load")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
