"""OpenAI-compatible ``/v1/completions``, ``/v1/chat/completions`` and ``/v1/models``, with
streaming as server-sent events ending in ``data: [DONE]``, as vLLM serves them."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from gpufleet_server.llm.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    describe,
    unsupported,
)
from gpufleet_server.llm.service import LlmService, RequestError
from gpufleet_server.llm.sse import event, open_stream
from gpufleet_server.llm.stop import StopText
from gpufleet_server.llm.tokenizer import decode, encode

SERVICE_KEY = web.AppKey("llm_service", LlmService)
Body = TypeVar("Body", bound=BaseModel)

_ERROR_TYPES = {400: "BadRequestError", 404: "NotFoundError", 503: "ServiceUnavailableError"}


def error_response(error: RequestError) -> web.Response:
    """OpenAI's error body (what the openai client parses)."""
    body = {
        "error": {
            "message": error.message,
            "type": _ERROR_TYPES.get(error.status, "InternalServerError"),
            "param": error.param,
            "code": error.status,
        }
    }
    return web.json_response(body, status=error.status)


async def parse_body(request: web.Request, schema: type[Body]) -> Body:
    try:
        payload = json.loads(await request.read())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RequestError(400, f"body: not valid JSON ({error})") from None
    refused = unsupported(payload)
    if refused is not None:
        raise RequestError(400, refused[1], refused[0])
    try:
        return schema.model_validate(payload)
    except ValidationError as error:
        message, param = describe(error)
        raise RequestError(400, message, param) from None


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


class _Shape:
    """What differs between completions and chat completions: object names and where the
    generated text goes in a choice."""

    def __init__(self, chat: bool) -> None:
        self.chat = chat
        self.object = "chat.completion" if chat else "text_completion"
        self.chunk_object = "chat.completion.chunk" if chat else "text_completion"
        self.id_prefix = "chatcmpl-" if chat else "cmpl-"

    def choice(self, text: str, finish_reason: str | None) -> dict[str, Any]:
        if self.chat:
            message = {"role": "assistant", "content": text}
            return {"index": 0, "message": message, "finish_reason": finish_reason}
        return {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}

    def delta(self, text: str | None, finish_reason: str | None) -> dict[str, Any]:
        if self.chat:
            delta = {} if text is None else {"content": text}
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish_reason}


async def _serve(
    request: web.Request,
    shape: _Shape,
    body: CompletionRequest | ChatCompletionRequest,
    prompt: list[int],
    max_tokens: int,
    echo: str = "",
) -> web.StreamResponse:
    """Generate for one choice; ``echo`` is text the choice begins with (vLLM's echo)."""
    service = request.app[SERVICE_KEY]
    generation = service.start(prompt, max_tokens, body.sampling(), body.stop_sequences())
    text = StopText(body.stop_sequences())
    head = {
        "id": f"{shape.id_prefix}{uuid.uuid4().hex}",
        "created": int(time.time()),
        "model": service.model_name,
    }
    async with contextlib.aclosing(service.tokens(generation)) as events:
        if not body.stream:
            parts: list[str] = [echo]
            generated = 0
            finish_reason: str | None = None
            async for batch in events:
                for item in batch:
                    if item.error is not None:
                        raise RequestError(500, item.error)
                    parts.append(text.delta(item.token_id, item.finish_reason))
                    generated += item.token_id is not None
                    finish_reason = item.finish_reason or finish_reason
            return web.json_response(
                {
                    **head,
                    "object": shape.object,
                    "choices": [shape.choice("".join(parts), finish_reason)],
                    "usage": _usage(len(prompt), generated),
                }
            )
        stream = await open_stream(request)
        try:
            chunk_head = {**head, "object": shape.chunk_object}
            if shape.chat:  # the first chat chunk names the role, as OpenAI's does
                first = {"index": 0, "delta": {"role": "assistant", "content": ""}}
                await stream.write(
                    event({**chunk_head, "choices": [{**first, "finish_reason": None}]})
                )
            if echo:
                await stream.write(event({**chunk_head, "choices": [shape.delta(echo, None)]}))
            generated = 0
            async for batch in events:
                chunks = []
                for item in batch:
                    if item.error is not None:
                        chunks.append(event({"error": {"message": item.error, "code": 500}}))
                        continue
                    delta = text.delta(item.token_id, item.finish_reason)
                    generated += item.token_id is not None
                    if delta or item.finish_reason is not None:
                        choice = shape.delta(delta or None, item.finish_reason)
                        chunks.append(event({**chunk_head, "choices": [choice]}))
                await stream.write(b"".join(chunks))
            if body.stream_options is not None and body.stream_options.include_usage:
                usage = {**chunk_head, "choices": [], "usage": _usage(len(prompt), generated)}
                await stream.write(event(usage))
            await stream.write(event("[DONE]"))
            await stream.write_eof()
        except ConnectionResetError:
            pass  # the client closed the stream; leaving the loop aborted its sequence
        return stream


async def completions(request: web.Request) -> web.StreamResponse:
    body = await parse_body(request, CompletionRequest)
    request.app[SERVICE_KEY].check_model(body.model)
    prompt = body.prompt_token_ids()
    echo = decode(prompt) if body.echo else ""
    return await _serve(request, _Shape(chat=False), body, prompt, body.max_tokens, echo)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = await parse_body(request, ChatCompletionRequest)
    request.app[SERVICE_KEY].check_model(body.model)
    prompt = encode(body.prompt_text())
    last = body.messages[-1]
    echo = last.text if body.echo and last.role == "assistant" else ""
    limit = body.generation_limit
    return await _serve(request, _Shape(chat=True), body, prompt, limit, echo)


async def models(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    card = {
        "id": service.model_name,
        "object": "model",
        "created": 0,
        "owned_by": "gpufleet",
        "max_model_len": service.options.max_model_len,
    }
    return web.json_response({"object": "list", "data": [card]})
