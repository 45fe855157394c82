"""The operator's liveness endpoint and ``/metrics`` answer over IPv4 and IPv6.

The kubelet probes, and Prometheus scrapes, the pod IP: IPv6 only on an IPv6-only cluster
(EKS IPv6), IPv4 only on most others. A server on one family means, on the other kind of
cluster, an operator pod its liveness probe restarts every minute or so and an operator
nobody can scrape. A node without IPv6 must still get both servers, on IPv4.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from gpufleet.observability.health import serving_liveness
from gpufleet.observability.metrics import OperatorMetrics
from gpufleet_devtools.apiserver.server import EmulatedApiServer
from gpufleet_devtools.processes import free_port
from tests.chart.render import chart_for_tests, render
from tests.operator.processes import CRD_FILE, OperatorProcess
from tests.support.waiting import wait_for


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


LOOPBACKS = ["127.0.0.1", *(["[::1]"] if _has_ipv6_loopback() else [])]
"""Where the servers must answer: both loopbacks, or IPv4's alone on a machine without
IPv6 (which the servers must then serve as well)."""


def _status(url: str) -> int | None:
    try:
        return requests.get(url, timeout=5).status_code
    except requests.ConnectionError:
        return None


def _answering(url: str) -> Callable[[], bool]:
    return lambda: _status(url) == 200


@pytest.mark.slow
def test_the_operator_as_the_chart_runs_it_answers_over_ipv4_and_ipv6(tmp_path: Path) -> None:
    health, metrics = free_port(), free_port()
    values = {"ports": {"health": health, "metrics": metrics}}
    subcommand, *args = render(chart_for_tests(tmp_path), values).container()["args"]
    assert subcommand == "run"
    log = tmp_path / "operator.log"
    with EmulatedApiServer(crds=[CRD_FILE]) as apiserver:
        operator = OperatorProcess(apiserver.kubeconfig_path, log, args=args)
        try:
            for host in LOOPBACKS:
                for url in (f"http://{host}:{health}/healthz", f"http://{host}:{metrics}/metrics"):
                    wait_for(_answering(url), timeout=30, what=f"{url} answering")
        except AssertionError as failed:
            raise AssertionError(
                f"{failed}\n--- operator log:\n{log.read_text()[-3000:]}"
            ) from None
        finally:
            operator.stop()


@pytest.mark.parametrize("host", LOOPBACKS)
def test_operator_metrics_are_served_on_every_address(host: str) -> None:
    port = free_port()
    server = OperatorMetrics().serve(port)
    try:
        response = requests.get(f"http://{host}:{port}/metrics", timeout=5)
        assert response.status_code == 200
        assert "gpufleet_" in response.text
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("host", LOOPBACKS)
async def test_a_liveness_url_without_a_host_is_served_on_every_address(host: str) -> None:
    port = free_port()
    async with serving_liveness(f"http://:{port}/healthz"):
        # The client blocks: run it off the loop that serves it.
        response = await _get_off_loop(f"http://{host}:{port}/healthz")
        assert response.status_code == 200
        assert response.json() == {}


async def _get_off_loop(url: str) -> requests.Response:
    return await asyncio.to_thread(requests.get, url, timeout=5)


class _NoIPv6Socket(socket.socket):
    """A socket of a kernel built without IPv6."""

    def __init__(self, family: Any = -1, *args: Any, **kwargs: Any) -> None:
        if family == socket.AF_INET6:
            raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
        super().__init__(family, *args, **kwargs)


async def test_a_node_without_ipv6_gets_both_servers_on_ipv4(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(socket, "socket", _NoIPv6Socket)
    health, metrics = free_port(), free_port()
    server = OperatorMetrics().serve(metrics)
    try:
        async with serving_liveness(f"http://:{health}/healthz"):
            for url in (
                f"http://127.0.0.1:{health}/healthz",
                f"http://127.0.0.1:{metrics}/metrics",
            ):
                response = await _get_off_loop(url)
                assert response.status_code == 200, url
    finally:
        server.shutdown()
        server.server_close()
