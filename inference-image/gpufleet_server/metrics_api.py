"""The metrics port: ``/metrics`` in Prometheus text format with Triton's metric names."""

from __future__ import annotations

from aiohttp import web

from gpufleet_server.exposition import CONTENT_TYPE, render
from gpufleet_server.metrics import TritonMetricsCollector

COLLECTOR_KEY = web.AppKey("collector", TritonMetricsCollector)


async def metrics(request: web.Request) -> web.Response:
    text = render(request.app[COLLECTOR_KEY].collect())
    return web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPE})


def create_metrics_app(collector: TritonMetricsCollector) -> web.Application:
    app = web.Application()
    app[COLLECTOR_KEY] = collector
    app.add_routes([web.get("/metrics", metrics)])
    return app
