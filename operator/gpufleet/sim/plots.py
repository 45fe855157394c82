"""PNG plots (matplotlib, Agg): replicas against demand, and cost against SLO attainment."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from gpufleet.sim.compare import PolicyOutcome


def image_formats() -> set[str]:
    """The file name suffixes (no dot) matplotlib can write: png, pdf, svg..."""
    from matplotlib.figure import Figure

    return set(Figure().canvas.get_supported_filetypes())


def replicas_vs_demand(
    outcomes: Sequence[PolicyOutcome], rps_per_replica: float, path: Path
) -> None:
    """Replicas each policy asked for (its best setting) and the replicas the demand needs;
    below, the requests that missed the target, by when they arrived."""
    fig, (ax, missed) = plt.subplots(
        2, 1, figsize=(11, 7), sharex=True, gridspec_kw={"height_ratios": (3, 1)}
    )
    first = outcomes[0].best.timeline
    need = [rps / rps_per_replica for rps in first.demand_rps]
    ax.fill_between(first.at, need, step="pre", color="0.85", label="demand / full-batch capacity")
    for o in outcomes:
        tl = o.best.timeline
        (line,) = ax.step(tl.at, tl.replicas, where="post", linewidth=1.2, label=o.policy)
        missed.step(tl.at, tl.missed, where="pre", linewidth=1.0, color=line.get_color())
    ax.set_ylabel("replicas")
    ax.set_title(f"Replicas vs demand: {outcomes[0].best.trace}")
    ax.legend(loc="upper left", fontsize="small", ncols=2)
    step = first.at[1] - first.at[0] if len(first.at) > 1 else 0.0
    missed.set_ylabel(f"missed per {step:g} s" if step else "missed")
    missed.set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cost_vs_attainment(outcomes: Sequence[PolicyOutcome], attainment: float, path: Path) -> None:
    """Every setting of the sweep: cost against the share of requests within the target.

    The setting reported for each policy (cheapest meeting the target) is a star.
    """
    fig, ax = plt.subplots(figsize=(8, 5))
    for o in outcomes:
        (dots,) = ax.plot(
            [100 * r.within_slo for r in o.runs],
            [r.cost_usd for r in o.runs],
            marker="o",
            linestyle="none",
            alpha=0.7,
            label=o.policy,
        )
        ax.plot(
            [100 * o.best.within_slo],
            [o.best.cost_usd],
            marker="*",
            markersize=16,
            color=dots.get_color(),
            markeredgecolor="black",
            linestyle="none",
        )
    ax.axvline(100 * attainment, color="0.4", linestyle="--", linewidth=1)
    low = min(100 * r.within_slo for o in outcomes for r in o.runs)
    ax.set_xlim(max(low, 100 * attainment - 20) - 0.5, 100.3)
    ax.set_xlabel("requests within the latency target (%) -- lower settings off the left edge")
    ax.set_ylabel("cost (USD)")
    ax.set_title("Cost vs SLO attainment across each policy's sweep (star: reported)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
