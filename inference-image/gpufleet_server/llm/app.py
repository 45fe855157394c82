"""The LLM mode's HTTP application: OpenAI routes, Triton's generate extension and health
routes, and ``/metrics`` (served on the HTTP port, as vLLM does, and on the metrics port)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import generate_latest

from gpufleet_server.exposition import CONTENT_TYPE
from gpufleet_server.llm import generate_api, openai_api
from gpufleet_server.llm.metrics import LlmMetrics
from gpufleet_server.llm.openai_api import SERVICE_KEY, error_response
from gpufleet_server.llm.service import LlmService, RequestError

log = logging.getLogger(__name__)

METRICS_KEY = web.AppKey("llm_metrics", LlmMetrics)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """OpenAI's error body on /v1 routes, Triton's ``{"error": "..."}`` elsewhere; no error
    escapes to kill the server."""
    try:
        return await handler(request)
    except RequestError as error:
        failure = error
    except web.HTTPException as error:
        if error.status < 400:
            raise
        failure = RequestError(error.status, error.reason)
    except Exception as error:
        log.exception("unexpected error serving %s", request.path)
        failure = RequestError(500, f"internal error: {error}")
    if request.path.startswith("/v1/"):
        return error_response(failure)
    return web.json_response({"error": failure.message}, status=failure.status)


async def health(request: web.Request) -> web.Response:
    """vLLM's /health: 200 while the server runs (a liveness probe; it stays 200 while draining
    so a long drain is not cut short by the kubelet)."""
    return web.Response(status=200)


async def live(request: web.Request) -> web.Response:
    return web.Response(status=200)


async def ready(request: web.Request) -> web.Response:
    """Triton's readiness: false while the model loads and from the stop signal on."""
    return web.Response(status=200 if request.app[SERVICE_KEY].ready else 503)


async def metrics(request: web.Request) -> web.Response:
    # generate_latest writes the 0.0.4 text format; prometheus_client's own content type
    # announces version 1.0.0, which Prometheus releases before 3 do not know.
    body = generate_latest(request.app[METRICS_KEY].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def create_llm_app(service: LlmService, llm_metrics: LlmMetrics) -> web.Application:
    app = web.Application(middlewares=[_errors])
    app[SERVICE_KEY] = service
    app[METRICS_KEY] = llm_metrics
    app.add_routes(
        [
            web.get("/health", health),
            web.get("/v2/health/live", live),
            web.get("/v2/health/ready", ready),
            web.get("/metrics", metrics),
            web.get("/v1/models", openai_api.models),
            web.post("/v1/completions", openai_api.completions),
            web.post("/v1/chat/completions", openai_api.chat_completions),
            web.post("/v2/models/{model}/generate", generate_api.generate),
            web.post("/v2/models/{model}/generate_stream", generate_api.generate_stream),
            web.post("/v2/models/{model}/versions/{version}/generate", generate_api.generate),
            web.post(
                "/v2/models/{model}/versions/{version}/generate_stream",
                generate_api.generate_stream,
            ),
        ]
    )
    return app


def create_llm_metrics_app(llm_metrics: LlmMetrics) -> web.Application:
    app = web.Application()
    app[METRICS_KEY] = llm_metrics
    app.add_routes([web.get("/metrics", metrics)])
    return app
