"""The demo's picture: load, replicas and latency over time (matplotlib, no display)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gpufleet_devtools.local.timeline import Sample


def plot_timeline(samples: Sequence[Sample], target_p95_ms: float, path: Path) -> Path:
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
    latency.plot(t, [s.p95_ms if s.p95_ms is not None else float("nan") for s in samples],
                 label="p95 (5 s window, client)", color="tab:red")  # fmt: skip
    latency.axhline(target_p95_ms, linestyle="--", color="black", label="target p95")
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
