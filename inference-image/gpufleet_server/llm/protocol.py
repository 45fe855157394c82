"""Request bodies of the LLM mode, parsed with pydantic at the boundary.

Fields follow OpenAI's completions and chat completions APIs and Triton's generate extension;
fields this server does not know are ignored, as OpenAI-compatible servers do, but a field it
knows and cannot honour is refused with a message naming it (``UNSUPPORTED``). A null field
means its default, as in vLLM (clients such as LangChain send ``"max_tokens": null``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from gpufleet_server.llm.runner import Sampling
from gpufleet_server.llm.tokenizer import encode

# OpenAI's default for /v1/completions; chat uses it too (an unbounded default would reserve
# the whole context's KV cache for every request that omits max_tokens). A request without
# max_tokens gets at most what its context has left (service.start), so a long prompt that
# fits is served, as vLLM serves it, rather than refused for a limit the client never set.
DEFAULT_MAX_TOKENS = 16

TokenId = Annotated[int, Field(ge=0)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


# Parameters of vLLM's API that change what is generated or returned and that this server does
# not implement: accepted only at a value that changes nothing (or null), refused otherwise
# rather than silently ignored. Each with the values that are harmless.
UNSUPPORTED: dict[str, tuple[object, ...]] = {
    "best_of": (1,),
    "logprobs": (False,),  # completions' integer (0 asks for the chosen token's) or chat's bool
    "top_logprobs": (0,),
    "prompt_logprobs": (),
    "presence_penalty": (0, 0.0),
    "frequency_penalty": (0, 0.0),
    "repetition_penalty": (1, 1.0),
    "logit_bias": ({},),
    "min_p": (0, 0.0),
    "min_tokens": (0,),
    "suffix": ("",),
    "use_beam_search": (False,),
    "stop_token_ids": ([],),
    "bad_words": ([], ""),
    "include_stop_str_in_output": (False,),
    "truncate_prompt_tokens": (),
    "response_format": ({"type": "text"},),
    "guided_json": (),
    "guided_regex": (),
    "guided_choice": (),
    "guided_grammar": (),
    "structured_outputs": (),
    "tool_choice": ("none",),
    # TensorRT-LLM's generate inputs
    "stop_words": ([], ""),
    "beam_width": (1,),
    "return_log_probs": (False,),
}


def unsupported(payload: object) -> tuple[str, str] | None:
    """The first parameter of the payload that asks for what this server cannot do, and the
    message naming it."""
    if not isinstance(payload, dict):
        return None
    for name, harmless in UNSUPPORTED.items():
        value = payload.get(name)
        # Compared with their types: False == 0, and logprobs=0 is a request.
        if value is None or any(type(value) is type(h) and value == h for h in harmless):
            continue
        return name, f"{name}: {json.dumps(value)} is not supported by this server"
    if payload.get("tools") and "tool_choice" not in payload:
        # vLLM's default tool_choice with tools is "auto", which needs a tool-call parser.
        return (
            "tools",
            'tools: tool calls are not supported by this server (only tool_choice "none")',
        )
    return None


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


class _SamplingFields(_Body):
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int = Field(default=0, ge=-1)  # vLLM's -1 or 0: every token
    seed: int | None = Field(default=None, ge=-(2**63), lt=2**64)

    def sampling(self) -> Sampling:
        return Sampling(self.temperature, self.top_p, max(self.top_k, 0), self.seed)


class _Sampling(_SamplingFields):
    model: str | None = None
    max_tokens: int | None = Field(default=None, ge=1)  # None: DEFAULT_MAX_TOKENS or less
    stream: StrictBool = False
    # vLLM's echo: the completion's text begins with the prompt (chat: with the last message
    # when it is the assistant's).
    echo: StrictBool = False
    stream_options: StreamOptions | None = None
    # Choices per prompt, each an independent sequence (OpenAI's limit).
    n: int = Field(default=1, ge=1, le=128)
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
MAX_PROMPTS = 2048  # OpenAI's limit on a batch of prompts


class CompletionRequest(_Sampling):
    prompt: PromptField

    @field_validator("prompt")
    @classmethod
    def _some_prompt(cls, prompt: PromptField) -> PromptField:
        batched = isinstance(prompt, list) and prompt and not isinstance(prompt[0], int)
        if batched and len(prompt) > MAX_PROMPTS:
            raise ValueError(f"at most {MAX_PROMPTS} prompts per request")
        return prompt

    def prompts_token_ids(self) -> list[list[int]]:
        """Each prompt as byte tokens (a string is encoded, token ids are taken as they are):
        a string or a token-id list is one prompt, a list of either a batch."""
        prompt: object = self.prompt
        batch = (
            prompt
            if isinstance(prompt, list) and prompt and not isinstance(prompt[0], int)
            else [prompt]
        )
        return [
            encode(one) if isinstance(one, str) else [int(t) for t in cast(list[int], one)]
            for one in cast(list[object], batch)
        ]


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
    def generation_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def prompt_text(self) -> str:
        """A minimal chat template: one "role: text" line per message, then the assistant's
        turn to speak."""
        lines = [f"{message.role}: {message.text}" for message in self.messages]
        return "\n".join([*lines, "assistant: "])


class GenerateParameters(_SamplingFields):
    max_tokens: int | None = Field(default=None, ge=1)  # None: DEFAULT_MAX_TOKENS or less
    # A string or a list, as vLLM's SamplingParams takes it (Triton's vLLM backend).
    stop: str | list[str] = Field(default_factory=list)

    @field_validator("stop")
    @classmethod
    def _stop_sequences(cls, stop: str | list[str]) -> list[str]:
        _checked_stop(stop)
        return [stop] if isinstance(stop, str) and stop else list(stop or [])

    def stop_sequences(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else self.stop


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
                decoded = json.loads(self.sampling_parameters)
            except json.JSONDecodeError as error:
                raise ValueError(f"sampling_parameters: not JSON ({error})") from None
            except RecursionError:
                raise ValueError("sampling_parameters: JSON nested too deeply") from None
            if not isinstance(decoded, dict):
                raise ValueError("sampling_parameters: not a JSON object")
            merged.update(decoded)
        merged.update({k: v for k, v in self.parameters.items() if k != "stream"})
        if self.max_tokens is not None:
            merged["max_tokens"] = self.max_tokens
        if self.temperature is not None:
            merged["temperature"] = self.temperature
        return GenerateParameters.model_validate(merged)

    def merged_parameters(self) -> dict[str, Any]:
        """Every sampling setting the request gives, wherever it gives it (to refuse the
        unsupported ones)."""
        merged: dict[str, Any] = dict(self.parameters)
        if self.sampling_parameters is not None:
            try:
                decoded = json.loads(self.sampling_parameters)
            except (json.JSONDecodeError, RecursionError):
                decoded = None  # sampling() names the error
            if isinstance(decoded, dict):
                merged = {**decoded, **merged}
        return merged


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
