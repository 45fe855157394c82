"""The operator's liveness endpoint (``gpufleet run --liveness``), served by gpufleet.

kopf's own endpoint binds exactly the URL's host, with ``localhost`` for none: either
IPv4 (``0.0.0.0``) or IPv6 (``[::]``; asyncio makes that socket IPv6-only), never both.
The kubelet probes the pod IP, which on an IPv6-only cluster (EKS IPv6) is IPv6 only and
on most others IPv4 only, so the chart's one URL must cover both: a URL without a host
(``http://:8080/healthz``) is served here on every address of each family the kernel
has. gpufleet has no ``@kopf.on.probe`` handlers, so kopf's endpoint would answer ``{}``
too; what the probe checks is that the operator's event loop still answers.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

HTTP_PORT = 80


def liveness_address(endpoint: str) -> tuple[str | None, int, str]:
    """Host (``None``: every address, both families), port and path of a liveness URL;
    ``ValueError`` for anything but ``http``."""
    parts = urllib.parse.urlsplit(endpoint)
    if parts.scheme != "http":
        raise ValueError(f"liveness endpoint {endpoint!r}: only http:// is served")
    return parts.hostname or None, parts.port or HTTP_PORT, parts.path or "/"


@asynccontextmanager
async def serving_liveness(endpoint: str) -> AsyncIterator[web.AppRunner]:
    """Answer ``GET <path>`` with 200 on the endpoint's address while the block runs."""
    host, port, path = liveness_address(endpoint)

    async def alive(_request: web.Request) -> web.Response:
        return web.json_response({})

    app = web.Application()
    app.add_routes([web.get(path, alive)])
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        # host None: asyncio binds each family's wildcard address and skips a family the
        # kernel lacks (no IPv6: IPv4 alone), so IPv4-only nodes keep working.
        await web.TCPSite(runner, host, port).start()
        yield runner
    finally:
        await runner.cleanup()
