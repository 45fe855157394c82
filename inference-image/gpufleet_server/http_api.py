"""The KServe v2 / Triton HTTP/REST front end (aiohttp)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from gpufleet_server.errors import HTTP_STATUS, InferenceError
from gpufleet_server.http_codec import HEADER_LENGTH, decode_request, encode_response
from gpufleet_server.metadata import model_metadata, server_metadata
from gpufleet_server.model_config import config_as_json
from gpufleet_server.service import InferenceService, LoadedModel
from gpufleet_server.statistics import statistics_response

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 256 * 1024 * 1024  # aiohttp's 1 MiB default is too small for tensors
SERVICE_KEY = web.AppKey("service", InferenceService)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def _errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes Triton's ``{"error": "..."}``; none escapes to kill the server."""
    try:
        return await handler(request)
    except InferenceError as error:
        return _error(HTTP_STATUS[error.kind], error.message)
    except web.HTTPException as error:
        if error.status >= 400:
            return _error(error.status, error.reason)
        raise
    except Exception as error:
        log.exception("unexpected error serving %s", request.path)
        return _error(500, f"internal error: {error}")


def _service(request: web.Request) -> InferenceService:
    return request.app[SERVICE_KEY]


def _model(request: web.Request) -> LoadedModel:
    return _service(request).resolve(request.match_info["model"], request.match_info.get("version"))


def _status(ok: bool) -> web.Response:
    return web.Response(status=200 if ok else 503)


async def live(request: web.Request) -> web.Response:
    return _status(True)


async def ready(request: web.Request) -> web.Response:
    return _status(_service(request).ready)


async def metadata(request: web.Request) -> web.Response:
    return web.json_response(server_metadata())


async def model_ready(request: web.Request) -> web.Response:
    service = _service(request)
    return _status(
        service.model_ready(request.match_info["model"], request.match_info.get("version"))
    )


async def model_meta(request: web.Request) -> web.Response:
    loaded = _model(request)
    versions = [m.version for m in _service(request).models() if m.spec.name == loaded.spec.name]
    platform = loaded.config.platform or loaded.config.backend
    return web.json_response(model_metadata(loaded.spec, versions, platform))


async def model_config(request: web.Request) -> web.Response:
    return web.json_response(config_as_json(_model(request).config))


async def statistics(request: web.Request) -> web.Response:
    selected = _service(request).statistics(
        request.match_info.get("model", ""), request.match_info.get("version", "")
    )
    return web.json_response(statistics_response(selected))


async def infer(request: web.Request) -> web.Response:
    received_ns = time.perf_counter_ns()
    service = _service(request)
    body = await request.read()
    decoded = decode_request(body, request.headers.get(HEADER_LENGTH))
    result = await service.infer(
        request.match_info["model"],
        request.match_info.get("version"),
        decoded.request_id,
        decoded.inputs,
        decoded.requested_outputs,
        received_ns,
    )
    payload, header_length = encode_response(result, decoded)
    if header_length is None:
        return web.Response(body=payload, content_type="application/json")
    return web.Response(
        body=payload,
        content_type="application/octet-stream",
        headers={HEADER_LENGTH: str(header_length)},
    )


def create_app(service: InferenceService) -> web.Application:
    app = web.Application(middlewares=[_errors_as_json], client_max_size=MAX_REQUEST_BYTES)
    app[SERVICE_KEY] = service
    app.add_routes(
        [
            web.get("/v2/health/live", live),
            web.get("/v2/health/ready", ready),
            web.get("/v2", metadata),
            web.post("/v2/models/{model}/infer", infer),
            web.post("/v2/models/{model}/versions/{version}/infer", infer),
            # Before /v2/models/{model}, which would take "stats" for a model name. Versions
            # are digits, as in Triton, whose router answers 404 "Not Found" to others.
            web.get("/v2/models/stats", statistics),
            web.get("/v2/models/{model}/stats", statistics),
            web.get(r"/v2/models/{model}/versions/{version:\d+}/stats", statistics),
            web.get("/v2/models/{model}", model_meta),
            web.get("/v2/models/{model}/versions/{version}", model_meta),
            web.get("/v2/models/{model}/ready", model_ready),
            web.get("/v2/models/{model}/versions/{version}/ready", model_ready),
            web.get("/v2/models/{model}/config", model_config),
            web.get("/v2/models/{model}/versions/{version}/config", model_config),
        ]
    )
    return app
