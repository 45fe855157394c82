"""Erlang C: how long requests wait when a fleet of ``c`` servers runs short.

``c`` servers of rate ``mu`` requests/s each, Poisson arrivals at ``lam``: the
waiting-time tail of M/M/c is ``P(W > t) = C(c, a) e^{-(c mu - lam) t}`` with
``a = lam / mu`` the offered load and ``C`` the Erlang C probability that a
request waits at all. ``C`` comes from the Erlang B recursion
``B_k = a B_{k-1} / (k + a B_{k-1})`` (numerically stable, O(c)).
"""

from __future__ import annotations

import math


def erlang_b(servers: int, load: float) -> float:
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = load * blocking / (k + load * blocking)
    return blocking


def erlang_c(servers: int, load: float, blocking: float) -> float:
    """Probability of waiting, from the Erlang B value of the same servers and load."""
    return blocking / (1.0 - (load / servers) * (1.0 - blocking))


def wait_quantile_ms(
    servers: int, rate: float, mu: float, blocking: float, tail_mass: float = 0.05
) -> float:
    """M/M/c wait (ms) that all but ``tail_mass`` of requests stay within (0.05: the
    p95), given Erlang B of ``servers``; ``inf`` when overloaded."""
    load = rate / mu
    spare = servers * mu - rate
    if load >= servers or spare <= 0.0:
        return math.inf
    waiting = erlang_c(servers, load, blocking)
    if waiting <= tail_mass:
        return 0.0
    return 1000.0 * math.log(waiting / tail_mass) / spare
