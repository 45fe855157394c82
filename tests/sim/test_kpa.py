"""The KPA baseline reproduces Knative's documented panic mode and rate limits."""

from __future__ import annotations

from gpufleet.sim.policies.kpa_controller import KpaController


def feed(kpa: KpaController, start: float, end: float, concurrency: float) -> None:
    t = start
    while t < end:
        kpa.observe(t, concurrency)
        t += 1.0


def steady(kpa: KpaController, pods: int) -> None:
    """A minute of load that needs exactly ``pods`` pods."""
    feed(kpa, -60.0, 0.0, pods * kpa.target_per_pod)


def test_panic_starts_at_twice_the_ready_pods() -> None:
    kpa = KpaController(concurrency_target=10, min_replicas=1, max_replicas=1000)
    steady(kpa, 4)
    per_pod = kpa.target_per_pod  # 7 = 10 x 70 %
    # 6 s at 1.9x the capacity of the 4 ready pods: no panic.
    feed(kpa, 0.0, 6.0, 1.9 * 4 * per_pod)
    kpa.decide(6.0, ready_pods=4)
    assert not kpa.in_panic
    # 6 s at 2x: panic, and the panic window's demand sets the count.
    feed(kpa, 6.0, 12.0, 2.0 * 4 * per_pod)
    desired = kpa.decide(12.0, ready_pods=4)
    assert kpa.in_panic
    assert desired == 8


def test_never_scales_down_in_panic_and_leaves_after_a_stable_window() -> None:
    kpa = KpaController(concurrency_target=10, min_replicas=1, max_replicas=1000)
    steady(kpa, 4)
    feed(kpa, 0.0, 6.0, 3.0 * 4 * kpa.target_per_pod)
    peak = kpa.decide(6.0, ready_pods=4)
    assert kpa.in_panic
    assert peak == 12
    panic_seen_at = 6.0
    # The load vanishes; ready pods grow to what was asked. Decide every 2 s.
    t, decisions = 6.0, []
    while t < 200.0:
        feed(kpa, t, t + 2.0, 0.0)
        t += 2.0
        decisions.append((t, kpa.in_panic, kpa.decide(t, ready_pods=12)))
    for at, _, desired in decisions:
        if at <= panic_seen_at + 60.0:
            assert desired == peak, f"scaled down at t={at} while in panic"
    exits = [at for at, panicking, _ in decisions if not panicking]
    assert exits
    assert exits[0] > panic_seen_at + 60.0
    # Out of panic, down at most by half per decision: 12 -> 6 -> 3 -> 1.
    after = [d for _, panicking, d in decisions if not panicking][:1]
    assert after == [6]


def test_scale_up_rate_and_no_data() -> None:
    kpa = KpaController(concurrency_target=1, min_replicas=1, max_replicas=10_000)
    assert kpa.decide(0.0, ready_pods=1) is None  # no samples: no decision
    feed(kpa, 0.0, 60.0, 5000.0)
    assert kpa.decide(60.0, ready_pods=1) == 1000  # 1000 x the ready pods per tick
