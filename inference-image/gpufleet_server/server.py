"""Server lifecycle: bind the three ports, load and warm up the models, serve until SIGTERM
or SIGINT, then drain: readiness turns false at once, new inference requests are refused,
in-flight ones get ``--exit-timeout-secs`` to finish."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

from aiohttp import web

from gpufleet_server.grpc_api import create_grpc_server
from gpufleet_server.http_api import create_app
from gpufleet_server.metrics import TritonMetricsCollector
from gpufleet_server.metrics_api import create_metrics_app
from gpufleet_server.options import ServerOptions
from gpufleet_server.repository import discover
from gpufleet_server.service import InferenceService, load_model
from gpufleet_server.torch_model import COMPUTE_DTYPES, resolve_device

log = logging.getLogger(__name__)


async def _start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def _load_models(service: InferenceService, options: ServerOptions) -> None:
    device = resolve_device(options.device)
    dtype = COMPUTE_DTYPES[options.dtype]
    log.info("serving on %s in %s", device, options.dtype)
    assert options.model_repository is not None  # required in this mode (ServerOptions)
    for files in await asyncio.to_thread(discover, options.model_repository):
        model = await asyncio.to_thread(load_model, files, device, dtype)
        service.add_model(files, model)
    # Long-lived startup objects (modules, weights' Python wrappers) leave the collected
    # generations, so garbage collections while serving stay short (fewer latency spikes).
    gc.collect()
    gc.freeze()
    service.mark_loaded()
    log.info("all models loaded and warmed up; server is ready")


async def serve(options: ServerOptions) -> int:
    """Run until a stop signal; the exit status is 0 when every request was drained."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    collector = TritonMetricsCollector(summaries_enabled=options.summary_latencies)
    service = InferenceService(collector)
    # Ports open before the models load, so liveness answers while a big model loads.
    http = await _start_site(create_app(service), options.host, options.http_port)
    metrics = await _start_site(create_metrics_app(collector), options.host, options.metrics_port)
    grpc_server = create_grpc_server(service, f"{options.host}:{options.grpc_port}")
    await grpc_server.start()
    log.info(
        "listening: HTTP %s:%d, gRPC %s:%d, metrics %s:%d",
        *(options.host, options.http_port, options.host, options.grpc_port),
        *(options.host, options.metrics_port),
    )

    status = 0
    loading = asyncio.create_task(_load_models(service, options))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({loading, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if loading.done() and loading.exception() is not None:
        log.error("cannot load the model repository: %s", loading.exception())
        status = 1
    else:
        await stopping
        loading.cancel()
        log.info("stop signal received: draining (timeout %ss)", options.exit_timeout_secs)
        service.start_draining()
        if not await service.wait_drained(options.exit_timeout_secs):
            log.error("exit timeout expired with requests still in flight")
            status = 1
    stopping.cancel()
    await asyncio.gather(loading, return_exceptions=True)  # its error was logged above
    await grpc_server.stop(grace=1.0)
    await http.cleanup()
    await metrics.cleanup()
    await service.stop()
    log.info("server stopped")
    return status
