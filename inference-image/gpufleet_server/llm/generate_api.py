"""Triton's generate extension: ``/v2/models/{m}/generate`` answers with the whole text,
``/v2/models/{m}/generate_stream`` streams it as server-sent events (one per token), each
``{"model_name", "model_version", "text_output"}``; the stream ends when the connection does,
as Triton's does."""

from __future__ import annotations

import contextlib

from aiohttp import web
from pydantic import ValidationError

from gpufleet_server.llm.openai_api import SERVICE_KEY, parse_body
from gpufleet_server.llm.protocol import (
    GenerateParameters,
    GenerateRequest,
    describe,
    unsupported,
)
from gpufleet_server.llm.service import RequestError
from gpufleet_server.llm.sse import event, open_stream
from gpufleet_server.llm.stop import StopText
from gpufleet_server.llm.tokenizer import encode

MODEL_VERSION = "1"


def _parameters(body: GenerateRequest) -> GenerateParameters:
    refused = unsupported(body.merged_parameters())
    if refused is not None:
        raise RequestError(400, refused[1], refused[0])
    try:
        return body.sampling()
    except ValidationError as error:
        message, param = describe(error)
        raise RequestError(400, message, param) from None
    except ValueError as error:
        raise RequestError(400, str(error), "sampling_parameters") from None


async def _generate(request: web.Request, stream: bool) -> web.StreamResponse:
    service = request.app[SERVICE_KEY]
    name = request.match_info["model"]
    if name != service.model_name:
        raise RequestError(404, f"Request for unknown model: '{name}' is not found", "model")
    version = request.match_info.get("version")
    if version is not None and version != MODEL_VERSION:
        raise RequestError(
            404, f"Request for unknown model: '{name}' version {version} is not found"
        )
    body = await parse_body(request, GenerateRequest)
    parameters = _parameters(body)
    stop = parameters.stop_sequences()
    generation = service.start(
        encode(body.text_input), parameters.max_tokens, parameters.sampling(), stop
    )
    text = StopText(stop)
    head = {"model_name": service.model_name, "model_version": MODEL_VERSION}
    try:
        async with contextlib.aclosing(service.tokens(generation)) as events:
            if not stream:
                parts: list[str] = []
                async for batch in events:
                    for item in batch:
                        if item.error is not None:
                            raise RequestError(500, item.error)
                        parts.append(text.delta(item.token_id, item.finish_reason))
                return web.json_response({**head, "text_output": "".join(parts)})
            response = await open_stream(request)
            try:
                async for batch in events:
                    chunks = []
                    for item in batch:
                        if item.error is not None:
                            chunks.append(event({"error": item.error}))
                        elif delta := text.delta(item.token_id, item.finish_reason):
                            chunks.append(event({**head, "text_output": delta}))
                    await response.write(b"".join(chunks))
                await response.write_eof()
            except ConnectionResetError:
                pass  # the client closed the stream; leaving the loop aborted its sequence
            return response
    finally:
        # Also where the tokens never started (a client gone while the stream opened).
        service.release(generation)


async def generate(request: web.Request) -> web.StreamResponse:
    return await _generate(request, stream=False)


async def generate_stream(request: web.Request) -> web.StreamResponse:
    return await _generate(request, stream=True)
