"""The LLM mode's lifecycle: bind the HTTP and metrics ports, build and warm up the model,
serve until SIGTERM or SIGINT, then drain: readiness turns false, new requests get 503,
requests already accepted (queued or generating, streaming or not) run to their end, then
the process exits (0, or 1 if ``--exit-timeout-secs`` expires first)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal

from aiohttp import web

from gpufleet_server.llm.app import create_llm_app, create_llm_metrics_app
from gpufleet_server.llm.engine import LlmEngine
from gpufleet_server.llm.metrics import LlmMetrics
from gpufleet_server.llm.options import LlmOptions
from gpufleet_server.llm.runner import ModelRunner
from gpufleet_server.llm.service import LlmService
from gpufleet_server.options import ServerOptions
from gpufleet_server.torch_model import COMPUTE_DTYPES, resolve_device

log = logging.getLogger(__name__)


async def _start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    # A handler is cancelled when its client disconnects, so a non-streaming request whose
    # client gave up (a timeout, a retry) aborts its sequence and frees its KV blocks, as vLLM
    # does, instead of generating to max_tokens for nobody; a stream only notices at its next
    # write, and a queued or prefilling request never writes.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def _build_runner(options: ServerOptions, llm: LlmOptions) -> ModelRunner:
    """Blocking (a worker thread): weights, KV cache, warm-up."""
    device = resolve_device(options.device)
    runner = ModelRunner(llm, device, COMPUTE_DTYPES[options.dtype])
    runner.warm_up()
    log.info(
        "LLM %s on %s in %s: %d layers, hidden %d, KV cache %d tokens in blocks of %d",
        llm.served_model_name, device, options.dtype, llm.num_layers, llm.hidden_size,
        llm.num_blocks * llm.block_size, llm.block_size,
    )  # fmt: skip
    return runner


async def serve_llm(options: ServerOptions, llm: LlmOptions) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    metrics = LlmMetrics(llm.served_model_name, llm.max_model_len)
    loading = asyncio.create_task(asyncio.to_thread(_build_runner, options, llm))
    # The service exists before the model does, so the ports answer (503) while it loads.
    service = LlmService(llm)
    http = await _start_site(create_llm_app(service, metrics), options.host, options.http_port)
    metrics_site = await _start_site(
        create_llm_metrics_app(metrics), options.host, options.metrics_port
    )
    log.info(
        "LLM mode listening: HTTP %s:%d, metrics %s:%d",
        options.host, options.http_port, options.host, options.metrics_port,
    )  # fmt: skip

    status = 0
    engine_task: asyncio.Task[None] | None = None
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({loading, stopping}, return_when=asyncio.FIRST_COMPLETED)
    if loading.done() and loading.exception() is not None:
        log.error("cannot build the model: %s", loading.exception())
        status = 1
    else:
        if loading.done():
            engine = LlmEngine(loading.result(), llm, metrics)
            engine_task = asyncio.create_task(engine.run())
            # The loop never returns; if it fails, stop (exit 1) rather than hang every request.
            engine_task.add_done_callback(lambda _: stop.set())
            gc.collect()
            gc.freeze()  # startup objects leave the collected generations: shorter GC pauses
            service.attach(engine)
            log.info("model warmed up; server is ready")
        await stopping
        service.draining = True
        if engine_task is not None and engine_task.done():
            # Nothing can finish the requests in flight: no drain, closing cuts them off.
            log.error("the engine loop failed: %r", engine_task.exception())
            status = 1
        else:
            log.info("stop signal received: draining (timeout %ss)", options.exit_timeout_secs)
            if not await service.wait_drained(options.exit_timeout_secs):
                log.error("exit timeout expired with requests still in flight")
                status = 1
    stopping.cancel()
    loading.cancel()
    if engine_task is not None:
        engine_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await engine_task
    await http.cleanup()
    await metrics_site.cleanup()
    log.info("server stopped")
    return status
