"""The LLM mode's server core shared by both front ends (OpenAI and Triton's generate):
request admission (model name, token limits, draining), in-flight accounting for the graceful
drain, and the stream of generated tokens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence

from gpufleet_server.llm.engine import GenerationRequest, LlmEngine, TokenEvent
from gpufleet_server.llm.options import LlmOptions
from gpufleet_server.llm.protocol import DEFAULT_MAX_TOKENS
from gpufleet_server.llm.runner import Sampling
from gpufleet_server.llm.tokenizer import VOCAB_SIZE

DRAINING_MESSAGE = "server is shutting down and no longer accepts requests"


class RequestError(Exception):
    """A request that cannot be served: the HTTP status, the client's message, the field."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param


class LlmService:
    def __init__(self, options: LlmOptions) -> None:
        self.options = options
        self.model_name = options.served_model_name
        self.engine: LlmEngine | None = None  # none while the model loads
        self.draining = False
        self._in_flight: set[GenerationRequest] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def attach(self, engine: LlmEngine) -> None:
        self.engine = engine

    @property
    def ready(self) -> bool:
        return self.engine is not None and not self.draining

    def check_model(self, name: str | None) -> None:
        if name is not None and name != self.model_name:
            raise RequestError(404, f"The model `{name}` does not exist.", "model")

    def start(
        self,
        prompt: list[int],
        max_tokens: int | None,
        sampling: Sampling,
        stop: Sequence[str] = (),
    ) -> GenerationRequest:
        """Validate the token counts and queue the request; every started request must be
        released (``release``, or by ``tokens`` once it ends), which the drain waits for.
        ``max_tokens`` None (the client gave none): ``DEFAULT_MAX_TOKENS``, or what the
        context has left after the prompt if that is less."""
        if self.draining:
            raise RequestError(503, DRAINING_MESSAGE)
        if self.engine is None:
            raise RequestError(503, "the model is still loading")
        if not prompt:
            raise RequestError(400, "prompt: must contain at least one token", "prompt")
        if any(not 0 <= token < VOCAB_SIZE for token in prompt):
            raise RequestError(
                400, f"prompt: token ids must be in [0, {VOCAB_SIZE - 1}] (byte tokens)", "prompt"
            )
        limit = self.options.max_model_len
        if len(prompt) >= limit:
            raise RequestError(
                400,
                f"prompt: this model's maximum context length is {limit} tokens, but the "
                f"prompt has {len(prompt)}, which leaves none to generate",
                "prompt",
            )
        if max_tokens is None:
            max_tokens = min(DEFAULT_MAX_TOKENS, limit - len(prompt))
        if len(prompt) + max_tokens > limit:
            raise RequestError(
                400,
                f"max_tokens: this model's maximum context length is {limit} tokens, but "
                f"{len(prompt) + max_tokens} were requested ({len(prompt)} in the prompt, "
                f"{max_tokens} in max_tokens)",
                "max_tokens",
            )
        request = GenerationRequest(prompt, max_tokens, sampling, tuple(stop))
        self._in_flight.add(request)
        self._idle.clear()
        self.engine.submit(request)
        return request

    async def tokens(self, request: GenerationRequest) -> AsyncGenerator[list[TokenEvent], None]:
        """The request's token events as they come, in batches of those already available;
        the last batch ends with a finish reason or an error. Leaving early aborts it."""
        try:
            while True:
                batch = [await request.events.get()]
                while not request.events.empty():
                    batch.append(request.events.get_nowait())
                yield batch
                if batch[-1].finish_reason is not None or batch[-1].error is not None:
                    return
        finally:
            self.release(request)

    def release(self, request: GenerationRequest) -> None:
        """The client is done with the request: abort it if it still runs. Idempotent, and
        needed where ``tokens`` never started (a client gone before its first token): an
        async generator that never ran has no ``finally`` to run."""
        if request not in self._in_flight:
            return
        assert self.engine is not None  # start() queued this request
        self.engine.abort(request)
        self._in_flight.discard(request)
        if not self._in_flight:
            self._idle.set()

    async def wait_drained(self, timeout_s: float) -> bool:
        """True when every started request was answered within the timeout."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True
