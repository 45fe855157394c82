"""An operator that serves some namespaces reads only their pods from Prometheus.

Two ModelDeployments of the same name, in two namespaces, scraped by a real Prometheus:
an operator watching one of the namespaces gets that one's numbers, and nothing of the
other (Prometheus is asked for its pods only: an operator per group of namespaces splits
the cost of the tick's query between them).
"""

from __future__ import annotations

import shutil

import pytest

from gpufleet.metrics.reader import FleetMetricsReader
from gpufleet.metrics.sample import FleetSample
from gpufleet.settings import OperatorSettings
from tests.metrics.test_ratio_reads import BATCH, Exporter, uneven_load
from tests.support.waiting import wait_for_async

pytestmark = pytest.mark.slow

NAME = "chat"


def reader(prometheus_url: str, namespaces: tuple[str, ...]) -> FleetMetricsReader:
    return FleetMetricsReader(
        OperatorSettings(
            prometheus_url=prometheus_url,
            rate_window_seconds=5.0,
            scrape_interval_seconds=0.5,
            stale_after_seconds=5.0,
            query_timeout_seconds=2.0,
            namespaces=namespaces,
        )
    )


async def test_an_operator_of_one_namespace_reads_its_pods_and_no_others() -> None:
    if shutil.which("prometheus") is None:
        pytest.skip("the Debian prometheus binary is not installed")
    from gpufleet_devtools.prometheus import PrometheusServer, ScrapeTarget

    exporters = {ns: Exporter(uneven_load) for ns in ("team-a", "team-b")}
    try:
        with PrometheusServer(scrape_interval_s=0.5) as prometheus:
            prometheus.set_targets(
                [
                    ScrapeTarget(
                        e.address, {"namespace": ns, "modeldeployment": NAME, "pod": f"{NAME}-0"}
                    )
                    for ns, e in exporters.items()
                ]
            )
            everything = reader(prometheus.url, ())
            team_a = reader(prometheus.url, ("team-a",))

            def both_known(sample: FleetSample) -> bool:
                return all(
                    sample.observations(ns, NAME, 1).inferences_per_exec is not None
                    for ns in exporters
                )

            # The cluster-wide reader sees both: both are scraped and have rates.
            await wait_for_async(
                everything.sample,
                until=both_known,
                timeout=30.0,
                interval=0.2,
                what="both namespaces' pods read",
            )
            sample = await team_a.sample()
            own = sample.observations("team-a", NAME, 1)
            assert own.inferences_per_exec == pytest.approx(BATCH, rel=1e-9)
            assert own.pods_reporting == 1
            other = sample.observations("team-b", NAME, 1)
            assert other.request_rate is None
            assert other.pods_reporting == 0
    finally:
        for exporter in exporters.values():
            exporter.stop()
