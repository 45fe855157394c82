"""The HPA baseline reproduces the documented HPA v2 defaults on hand-made metric series."""

from __future__ import annotations

from gpufleet.sim.policies.hpa_controller import HpaController

SYNC = 15.0


def run_syncs(
    hpa: HpaController, start: int, metric: list[float | None], t0: float = 0.0
) -> list[int]:
    """Feed one metric value per 15 s sync; return replicas after each sync."""
    replicas, out = start, []
    for i, value in enumerate(metric):
        replicas = hpa.sync(t0 + i * SYNC, replicas, value)
        out.append(replicas)
    return out


def test_scale_up_is_limited_to_double_or_four_pods_per_period() -> None:
    hpa = HpaController(target_per_pod=1.0, min_replicas=1, max_replicas=1000)
    # A queue of 1000 wants 1000 pods; each 15 s the HPA may add max(100 %, 4 pods).
    assert run_syncs(hpa, 1, [1000.0] * 6) == [5, 10, 20, 40, 80, 160]


def test_two_syncs_within_one_period_share_its_scale_up_budget() -> None:
    hpa = HpaController(target_per_pod=1.0, min_replicas=1, max_replicas=1000)
    assert hpa.sync(0.0, 10, 1000.0) == 20
    # 5 s later, still inside the 15 s period that started at 10 replicas.
    assert hpa.sync(5.0, 20, 1000.0) == 20
    assert hpa.sync(15.0, 20, 1000.0) == 40


def test_no_scale_down_inside_the_300s_stabilization_window() -> None:
    hpa = HpaController(target_per_pod=2.0, min_replicas=1, max_replicas=100)
    high = run_syncs(hpa, 10, [20.0] * 4)  # 10 pods' worth of queue, 4 syncs (t = 0..45 s)
    assert high == [10] * 4
    idle = run_syncs(hpa, 10, [0.0] * 30, t0=4 * SYNC)  # the queue empties at t = 60 s
    times = [4 * SYNC + i * SYNC for i in range(30)]
    last_high = 3 * SYNC
    for at, replicas in zip(times, idle, strict=True):
        if at - last_high < 300:
            assert replicas == 10, f"scaled down at t={at}, inside the 300 s window"
    assert idle[-1] == 1  # and once the window has passed, it goes to minReplicas at once


def test_changes_within_tolerance_are_ignored() -> None:
    hpa = HpaController(target_per_pod=4.0, min_replicas=1, max_replicas=100)
    assert hpa.sync(0.0, 10, 43.0) == 10  # 43 / (4 * 10) = 1.075: within 10 %
    assert hpa.sync(15.0, 10, 45.0) == 12  # 1.125: ceil(45 / 4)


def test_missing_metric_means_no_scaling() -> None:
    hpa = HpaController(target_per_pod=1.0, min_replicas=1, max_replicas=100)
    assert run_syncs(hpa, 7, [None] * 25) == [7] * 25


def test_bounds_are_respected() -> None:
    hpa = HpaController(target_per_pod=1.0, min_replicas=3, max_replicas=12)
    assert run_syncs(hpa, 10, [1000.0, 1000.0]) == [12, 12]
    later = run_syncs(hpa, 12, [0.0] * 25, t0=400.0)
    assert later[-1] == 3
