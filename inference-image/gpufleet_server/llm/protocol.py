"""Request bodies of the LLM mode, parsed with pydantic at the boundary.

Fields follow OpenAI's completions and chat completions APIs and Triton's generate extension;
fields this server does not know are ignored, as OpenAI-compatible servers do, but a field it
knows and cannot honour is refused with a message naming it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from gpufleet_server.llm.tokenizer import encode

# OpenAI's default for /v1/completions; chat uses it too (an unbounded default would reserve
# the whole context's KV cache for every request that omits max_tokens).
DEFAULT_MAX_TOKENS = 16

TokenId = Annotated[int, Field(ge=0)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


MAX_STOP_SEQUENCES = 4  # OpenAI's limit


def _checked_stop(stop: str | list[str] | None) -> str | list[str] | None:
    if isinstance(stop, list):
        if len(stop) > MAX_STOP_SEQUENCES:
            raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop sequences")
        if any(not sequence for sequence in stop):
            raise ValueError("a stop sequence must not be empty")
    return stop


class StreamOptions(_Body):
    include_usage: StrictBool = False


class _Sampling(_Body):
    model: str | None = None
    max_tokens: int = Field(default=DEFAULT_MAX_TOKENS, ge=1)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    stream: StrictBool = False
    stream_options: StreamOptions | None = None
    n: Literal[1] = 1
    stop: str | list[str] | None = None

    @field_validator("stop")
    @classmethod
    def _stop_sequences(cls, stop: str | list[str] | None) -> str | list[str] | None:
        return _checked_stop(stop)

    def stop_sequences(self) -> list[str]:
        """Up to 4 sequences, as OpenAI allows; generation ends when the text ends with one."""
        if isinstance(self.stop, str):
            return [self.stop] if self.stop else []
        return list(self.stop or [])


PromptField = str | list[TokenId] | list[str] | list[list[TokenId]]


class CompletionRequest(_Sampling):
    prompt: PromptField

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, prompt: PromptField) -> PromptField:
        batched = isinstance(prompt, list) and prompt and not isinstance(prompt[0], int)
        if batched and len(prompt) != 1:
            raise ValueError("one prompt per request is supported")
        return prompt

    def prompt_token_ids(self) -> list[int]:
        """The prompt as byte tokens (a string is encoded, token ids are taken as they are)."""
        prompt: object = self.prompt
        if isinstance(prompt, list) and prompt and not isinstance(prompt[0], int):
            prompt = prompt[0]  # the one prompt of a batch of one
        if isinstance(prompt, str):
            return encode(prompt)
        return [int(token) for token in cast(list[int], prompt)]


class TextPart(_Body):
    type: Literal["text"]
    text: str


class ChatMessage(_Body):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None

    @property
    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class ChatCompletionRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    # The newer name of max_tokens in OpenAI's chat API; wins when both are given.
    max_completion_tokens: int | None = Field(default=None, ge=1)

    @property
    def generation_limit(self) -> int:
        return self.max_completion_tokens or self.max_tokens

    def prompt_text(self) -> str:
        """A minimal chat template: one "role: text" line per message, then the assistant's
        turn to speak."""
        lines = [f"{message.role}: {message.text}" for message in self.messages]
        return "\n".join([*lines, "assistant: "])


class GenerateParameters(_Body):
    max_tokens: int = Field(default=DEFAULT_MAX_TOKENS, ge=1)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    stop: list[str] = Field(default_factory=list)

    @field_validator("stop")
    @classmethod
    def _stop_sequences(cls, stop: list[str]) -> list[str]:
        _checked_stop(stop)
        return stop


class GenerateRequest(_Body):
    """Triton's generate extension: inputs as top-level keys (``text_input``, optionally
    ``max_tokens`` and ``temperature`` as the TensorRT-LLM ensemble takes them), sampling
    settings in ``parameters`` or, as Triton's vLLM backend takes them, in a JSON string
    ``sampling_parameters``."""

    text_input: str
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    parameters: dict[str, Any] = Field(default_factory=dict)
    sampling_parameters: str | None = None

    def sampling(self) -> GenerateParameters:
        merged: dict[str, Any] = {}
        if self.sampling_parameters is not None:
            try:
                merged.update(json.loads(self.sampling_parameters))
            except json.JSONDecodeError as error:
                raise ValueError(f"sampling_parameters: not JSON ({error})") from None
        merged.update({k: v for k, v in self.parameters.items() if k != "stream"})
        if self.max_tokens is not None:
            merged["max_tokens"] = self.max_tokens
        if self.temperature is not None:
            merged["temperature"] = self.temperature
        return GenerateParameters.model_validate(merged)


def describe(error: ValidationError) -> tuple[str, str | None]:
    """A message naming each offending field, and the first field (OpenAI's ``param``).

    A union field (``prompt``) fails once per alternative; those messages are merged."""
    by_field: dict[str, list[str]] = {}
    for item in error.errors():
        # Union alternatives appear in the location as type names ("str", "list[int]").
        path = [str(p) for p in item["loc"] if not (p == "str" or "[" in str(p))]
        message = str(item["msg"]).removeprefix("Value error, ")
        messages = by_field.setdefault(".".join(path) or "body", [])
        if message not in messages:
            messages.append(message)
    text = "; ".join(f"{field}: {' or '.join(messages)}" for field, messages in by_field.items())
    first = next(iter(by_field))
    return text, None if first == "body" else first
