"""Bad requests to the LLM mode get 400 (404 for an unknown model) with a message naming the
field, in OpenAI's error shape on /v1 and Triton's on /v2; the server keeps serving."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from gpufleet_devtools.runtime.process import ServerProcess
from tests.runtime.conftest import LLM_MAX_MODEL_LEN
from tests.runtime.llm_client import MODEL, post, url

pytestmark = pytest.mark.slow

CHAT = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/v1/completions", {"prompt": "x", "max_tokens": 0}, 400, "max_tokens"),
        ("/v1/completions", {"prompt": "x", "max_tokens": "many"}, 400, "max_tokens"),
        ("/v1/completions", {"max_tokens": 3}, 400, "prompt"),
        ("/v1/completions", {"prompt": ""}, 400, "prompt"),
        ("/v1/completions", {"prompt": [1, 256]}, 400, "prompt"),
        ("/v1/completions", {"prompt": ["a", ""]}, 400, "prompt"),  # one empty prompt of two
        ("/v1/completions", {"prompt": "x", "max_tokens": LLM_MAX_MODEL_LEN}, 400, "max_tokens"),
        ("/v1/completions", {"prompt": "x", "temperature": -1}, 400, "temperature"),
        ("/v1/completions", {"prompt": "x", "n": 0}, 400, "n"),
        ("/v1/chat/completions", {"messages": CHAT, "n": 129}, 400, "n"),
        ("/v1/completions", {"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, 400, "stop"),
        ("/v1/completions", {"prompt": "x", "stop": ["a", ""]}, 400, "stop"),
        ("/v1/completions", {"prompt": "x", "stream": "yes"}, 400, "stream"),
        ("/v1/completions", {"prompt": "x", "model": "gpt-4"}, 404, "model"),
        ("/v1/chat/completions", {"max_tokens": 3}, 400, "messages"),
        ("/v1/chat/completions", {"messages": []}, 400, "messages"),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "robot", "content": "x"}]},
            400,
            "messages.0.role",
        ),
        (
            "/v1/chat/completions",
            {"messages": CHAT, "max_completion_tokens": 0},
            400,
            "max_completion_tokens",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_openai_bad_input_names_the_field(
    llm_server: ServerProcess, path: str, body: dict[str, Any], status: int, field: str
) -> None:
    response = post(llm_server, path, body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == status
    assert error["param"] == field
    assert error["message"].startswith(field) or field in error["message"]


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        (f"/v2/models/{MODEL}/generate", {"parameters": {"max_tokens": 3}}, 400, "text_input"),
        (
            f"/v2/models/{MODEL}/generate",
            {"text_input": "x", "parameters": {"max_tokens": 0}},
            400,
            "max_tokens",
        ),
        (
            f"/v2/models/{MODEL}/generate_stream",
            {"text_input": "x", "max_tokens": -5},
            400,
            "max_tokens",
        ),
        (
            f"/v2/models/{MODEL}/generate",
            {"text_input": "x", "sampling_parameters": "{"},
            400,
            "sampling_parameters",
        ),
        ("/v2/models/other/generate", {"text_input": "x"}, 404, "other"),
        (f"/v2/models/{MODEL}/versions/7/generate", {"text_input": "x"}, 404, "version 7"),
    ],
)
def test_generate_bad_input_names_the_field(
    llm_server: ServerProcess, path: str, body: dict[str, Any], status: int, field: str
) -> None:
    response = post(llm_server, path, body)
    assert response.status_code == status, response.text
    assert field in response.json()["error"]


def test_malformed_json_is_a_400_and_the_server_keeps_serving(llm_server: ServerProcess) -> None:
    response = requests.post(
        url(llm_server, "/v1/completions"),
        data=b"{not json",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]["message"]
    assert post(llm_server, "/v1/completions", {"prompt": "ok", "max_tokens": 1}).status_code == 200


@pytest.mark.parametrize(
    ("method", "data", "status"),
    [("GET", b"", 405), ("PUT", b"{}", 405), ("POST", b'{"prompt": "' + b"x" * 2**21 + b'"}', 413)],
    ids=["get", "put", "too-large"],
)
def test_http_level_refusals_are_client_errors_in_openai_shape(
    llm_server: ServerProcess, method: str, data: bytes, status: int
) -> None:
    response = requests.request(method, url(llm_server, "/v1/completions"), data=data, timeout=10)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == status
    assert error["type"] == "BadRequestError"  # the client's mistake, not the server's


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/completions", b"[" * 100_000),
        ("/v1/chat/completions", b'{"messages": ' + b"[" * 100_000),
        (f"/v2/models/{MODEL}/generate", b"[" * 100_000),
        (
            f"/v2/models/{MODEL}/generate",
            json.dumps({"text_input": "x", "sampling_parameters": "[" * 100_000}).encode(),
        ),
    ],
    ids=["completions", "chat", "generate", "sampling-parameters"],
)
def test_json_nested_too_deeply_is_a_400_not_a_500(
    llm_server: ServerProcess, path: str, body: bytes
) -> None:
    """Python's JSON parser recurses per level of nesting: a body nested past its limit is the
    client's malformed input, not a server error."""
    response = requests.post(
        url(llm_server, path), data=body, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 400, response.text
    assert "nested too deeply" in response.text
    assert post(llm_server, "/v1/completions", {"prompt": "ok", "max_tokens": 1}).status_code == 200


@pytest.mark.parametrize("path", ["/v1/completions", "/v1/chat/completions", "generate"])
def test_a_long_prompt_without_max_tokens_gets_what_the_context_has_left(
    llm_server: ServerProcess, path: str
) -> None:
    """As vLLM: a request that sets no max_tokens is not refused for the default; it generates
    at most what the context leaves after its prompt."""
    left = 5
    if path == "generate":
        prompt = "x" * (LLM_MAX_MODEL_LEN - left)
        response = post(llm_server, f"/v2/models/{MODEL}/generate", {"text_input": prompt})
        assert response.status_code == 200, response.text
        assert len(response.json()["text_output"]) <= left
        return
    if path == "/v1/completions":
        body: dict[str, Any] = {"prompt": "x" * (LLM_MAX_MODEL_LEN - left)}
    else:
        template = len("user: \nassistant: ")  # the chat template's bytes around the message
        body = {
            "messages": [{"role": "user", "content": "x" * (LLM_MAX_MODEL_LEN - left - template)}]
        }
    response = post(llm_server, path, {**body, "temperature": 0})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["usage"]["prompt_tokens"] == LLM_MAX_MODEL_LEN - left
    assert result["usage"]["completion_tokens"] == left
    assert result["choices"][0]["finish_reason"] == "length"


def test_a_prompt_that_fills_the_context_is_refused_naming_the_prompt(
    llm_server: ServerProcess,
) -> None:
    response = post(llm_server, "/v1/completions", {"prompt": "x" * LLM_MAX_MODEL_LEN})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "prompt"
    assert error["message"].startswith("prompt: ")
    assert str(LLM_MAX_MODEL_LEN) in error["message"]
