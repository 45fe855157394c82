"""OpenAI-compatible ``/v1/completions``, ``/v1/chat/completions`` and ``/v1/models``, with
streaming as server-sent events ending in ``data: [DONE]``, as vLLM serves them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from gpufleet_server.llm.engine import GenerationRequest, TokenEvent
from gpufleet_server.llm.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    describe,
    unsupported,
)
from gpufleet_server.llm.runner import Sampling
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
            # A client error the table does not name (405, 413) is still the client's.
            "type": _ERROR_TYPES.get(
                error.status, "BadRequestError" if error.status < 500 else "InternalServerError"
            ),
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
    except RecursionError:  # json's parser recurses per level of nesting
        raise RequestError(400, "body: JSON nested too deeply") from None
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

    def choice(self, index: int, text: str, finish_reason: str | None) -> dict[str, Any]:
        if self.chat:
            message = {"role": "assistant", "content": text}
            return {"index": index, "message": message, "finish_reason": finish_reason}
        return {"index": index, "text": text, "logprobs": None, "finish_reason": finish_reason}

    def delta(self, index: int, text: str | None, finish_reason: str | None) -> dict[str, Any]:
        if self.chat:
            delta = {} if text is None else {"content": text}
            return {
                "index": index,
                "delta": delta,
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        return {
            "index": index,
            "text": text or "",
            "logprobs": None,
            "finish_reason": finish_reason,
        }


@dataclass
class _Choice:
    """One choice: its own sequence, stop-sequence filter and what it begins with (echo)."""

    index: int
    generation: GenerationRequest
    text: StopText
    echo: str
    generated: int = 0


def _choice_sampling(body: CompletionRequest | ChatCompletionRequest, choice: int) -> Sampling:
    """The n choices of a seeded request are n different samples; the first is what n=1
    gives with that seed."""
    sampling = body.sampling()
    if choice == 0 or sampling.seed is None:
        return sampling
    return replace(sampling, seed=hash((sampling.seed, choice)))


async def _serve(
    request: web.Request,
    shape: _Shape,
    body: CompletionRequest | ChatCompletionRequest,
    prompts: list[list[int]],
    max_tokens: int | None,
    echoes: list[str],
) -> web.StreamResponse:
    """Generate ``body.n`` choices for each prompt, as vLLM numbers them (prompt i's choice j
    has index i*n+j); ``echoes[i]`` is the text prompt i's choices begin with (vLLM's echo)."""
    service = request.app[SERVICE_KEY]
    stop = body.stop_sequences()
    choices: list[_Choice] = []
    try:
        for prompt, echo in zip(prompts, echoes, strict=True):
            for j in range(body.n):
                generation = service.start(prompt, max_tokens, _choice_sampling(body, j), stop)
                choices.append(_Choice(len(choices), generation, StopText(stop), echo))
        head = {
            "id": f"{shape.id_prefix}{uuid.uuid4().hex}",
            "created": int(time.time()),
            "model": service.model_name,
        }
        prompt_tokens = sum(len(prompt) for prompt in prompts)
        if not body.stream:
            return await _complete(service, shape, head, choices, prompt_tokens)
        include_usage = body.stream_options is not None and body.stream_options.include_usage
        return await _stream(request, shape, head, choices, prompt_tokens, include_usage)
    finally:
        for choice in choices:  # a client gone or a request failed: abort what still runs
            service.release(choice.generation)


async def _complete(
    service: LlmService,
    shape: _Shape,
    head: dict[str, Any],
    choices: list[_Choice],
    prompt_tokens: int,
) -> web.Response:
    async def collect(choice: _Choice) -> tuple[str, str | None, str | None]:
        """The choice's text and finish reason, or the error that ended it (returned, not
        raised: gather would leave the other choices' tasks running unawaited)."""
        parts = [choice.echo]
        finish_reason: str | None = None
        async with contextlib.aclosing(service.tokens(choice.generation)) as events:
            async for batch in events:
                for item in batch:
                    if item.error is not None:
                        return "", None, item.error
                    parts.append(choice.text.delta(item.token_id, item.finish_reason))
                    choice.generated += item.token_id is not None
                    finish_reason = item.finish_reason or finish_reason
        return "".join(parts), finish_reason, None

    results = await asyncio.gather(*(collect(choice) for choice in choices))
    for _, _, error in results:
        if error is not None:
            raise RequestError(500, error)
    generated = sum(choice.generated for choice in choices)
    return web.json_response(
        {
            **head,
            "object": shape.object,
            "choices": [shape.choice(i, text, why) for i, (text, why, _) in enumerate(results)],
            "usage": _usage(prompt_tokens, generated),
        }
    )


async def _stream(
    request: web.Request,
    shape: _Shape,
    head: dict[str, Any],
    choices: list[_Choice],
    prompt_tokens: int,
    include_usage: bool,
) -> web.StreamResponse:
    service = request.app[SERVICE_KEY]
    stream = await open_stream(request)
    chunk_head = {**head, "object": shape.chunk_object}
    # Each choice's token batches as they come, whichever choice they are of.
    arrivals: asyncio.Queue[tuple[_Choice, list[TokenEvent] | None]] = asyncio.Queue()

    async def forward(choice: _Choice) -> None:
        async with contextlib.aclosing(service.tokens(choice.generation)) as events:
            async for batch in events:
                arrivals.put_nowait((choice, batch))
        arrivals.put_nowait((choice, None))

    def chunk(choice: dict[str, Any]) -> bytes:
        return event({**chunk_head, "choices": [choice]})

    tasks = [asyncio.create_task(forward(choice)) for choice in choices]
    try:
        opening = []
        for choice in choices:
            if shape.chat:  # the first chat chunk names the role, as OpenAI's does
                role = {"role": "assistant", "content": ""}
                opening.append(chunk({"index": choice.index, "delta": role, "finish_reason": None}))
            if choice.echo:
                opening.append(chunk(shape.delta(choice.index, choice.echo, None)))
        if opening:
            await stream.write(b"".join(opening))
        running = len(choices)
        while running:
            choice, batch = await arrivals.get()
            if batch is None:
                running -= 1
                continue
            chunks = []
            for item in batch:
                if item.error is not None:
                    chunks.append(event({"error": {"message": item.error, "code": 500}}))
                    continue
                delta = choice.text.delta(item.token_id, item.finish_reason)
                choice.generated += item.token_id is not None
                if delta or item.finish_reason is not None:
                    chunks.append(
                        chunk(shape.delta(choice.index, delta or None, item.finish_reason))
                    )
            await stream.write(b"".join(chunks))
        if include_usage:
            generated = sum(choice.generated for choice in choices)
            usage = {**chunk_head, "choices": [], "usage": _usage(prompt_tokens, generated)}
            await stream.write(event(usage))
        await stream.write(event("[DONE]"))
        await stream.write_eof()
    except ConnectionResetError:
        pass  # the client closed the stream; _serve aborts its sequences
    finally:
        for task in tasks:
            task.cancel()
    return stream


async def completions(request: web.Request) -> web.StreamResponse:
    body = await parse_body(request, CompletionRequest)
    request.app[SERVICE_KEY].check_model(body.model)
    prompts = body.prompts_token_ids()
    echoes = [decode(prompt) if body.echo else "" for prompt in prompts]
    return await _serve(request, _Shape(chat=False), body, prompts, body.max_tokens, echoes)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = await parse_body(request, ChatCompletionRequest)
    request.app[SERVICE_KEY].check_model(body.model)
    prompt = encode(body.prompt_text())
    last = body.messages[-1]
    echo = last.text if body.echo and last.role == "assistant" else ""
    limit = body.generation_limit
    return await _serve(request, _Shape(chat=True), body, [prompt], limit, [echo])


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
