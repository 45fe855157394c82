"""The LLM mode's OpenAI and Triton generate APIs, through plain HTTP against the real server:
completions stream token by token, answers carry usage counts, both APIs agree."""

from __future__ import annotations

import aiohttp
import pytest
import requests

from gpufleet_devtools.runtime.llm_client import stream_completion
from gpufleet_devtools.runtime.process import ServerProcess
from tests.runtime.llm_client import MODEL, gauge, post, stream, url

pytestmark = pytest.mark.slow


def test_completion_returns_max_tokens_and_usage(llm_server: ServerProcess) -> None:
    prompt = "Once upon a time"
    response = post(
        llm_server, "/v1/completions", {"model": MODEL, "prompt": prompt, "max_tokens": 12}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "text_completion"
    assert body["model"] == MODEL
    (choice,) = body["choices"]
    assert len(choice["text"]) == 12  # byte tokens, printable ASCII: one character each
    assert choice["finish_reason"] == "length"
    assert body["usage"] == {
        "prompt_tokens": len(prompt),
        "completion_tokens": 12,
        "total_tokens": len(prompt) + 12,
    }


def test_prompt_as_token_ids_counts_them(llm_server: ServerProcess) -> None:
    response = post(llm_server, "/v1/completions", {"prompt": [72, 105, 33, 10], "max_tokens": 3})
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["prompt_tokens"] == 4


def test_greedy_decoding_is_deterministic(llm_server: ServerProcess) -> None:
    body = {"prompt": "The same prompt", "max_tokens": 20, "temperature": 0}
    texts = {
        post(llm_server, "/v1/completions", body).json()["choices"][0]["text"] for _ in range(2)
    }
    assert len(texts) == 1


def test_tokens_stream_while_the_request_is_still_generating(llm_server: ServerProcess) -> None:
    events = stream(
        llm_server, "/v1/completions", {"prompt": "Stream", "max_tokens": 300, "stream": True}
    )
    first = next(events)
    # The client holds the first token while the server still runs the request.
    assert gauge(llm_server, "vllm:num_requests_running") >= 1
    rest = list(events)
    assert rest[-1] == "[DONE]"
    chunks = [first, *rest[:-1]]
    assert len(chunks) == 300
    assert all(
        c["object"] == "text_completion" and len(c["choices"][0]["text"]) == 1 for c in chunks
    )
    assert [c["choices"][0]["finish_reason"] for c in chunks[-2:]] == [None, "length"]


def test_chat_stream_has_role_content_finish_and_usage(llm_server: ServerProcess) -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    events = list(
        stream(
            llm_server,
            "/v1/chat/completions",
            {
                "messages": messages,
                "max_tokens": 5,
                "stream": True,
                "stream_options": {"include_usage": True},
            },
        )
    )
    assert events[-1] == "[DONE]"
    role, *content, usage = events[:-1]
    assert role["choices"][0]["delta"]["role"] == "assistant"
    assert len(content) == 5
    assert all(c["object"] == "chat.completion.chunk" for c in content)
    assert "".join(c["choices"][0]["delta"]["content"] for c in content).isprintable()
    assert content[-1]["choices"][0]["finish_reason"] == "length"
    assert usage["choices"] == []
    assert usage["usage"]["completion_tokens"] == 5
    assert usage["usage"]["prompt_tokens"] > len("Be brief.Hi")  # the roles are in the prompt too


def test_chat_completion_without_stream(llm_server: ServerProcess) -> None:
    body = {
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        "max_completion_tokens": 7,
    }
    response = post(llm_server, "/v1/chat/completions", body)
    assert response.status_code == 200, response.text
    (choice,) = response.json()["choices"]
    assert choice["message"]["role"] == "assistant"
    assert len(choice["message"]["content"]) == 7


def test_triton_generate_and_generate_stream(llm_server: ServerProcess) -> None:
    body = {"text_input": "Triton", "parameters": {"max_tokens": 6, "temperature": 0}}
    whole = post(llm_server, f"/v2/models/{MODEL}/generate", body)
    assert whole.status_code == 200, whole.text
    assert whole.json()["model_name"] == MODEL
    streamed = list(stream(llm_server, f"/v2/models/{MODEL}/generate_stream", body))
    assert len(streamed) == 6
    # Greedy decoding: the stream spells out exactly the non-streamed answer.
    assert "".join(e["text_output"] for e in streamed) == whole.json()["text_output"]


def test_vllm_backend_sampling_parameters_are_read(llm_server: ServerProcess) -> None:
    body = {"text_input": "x", "sampling_parameters": '{"max_tokens": 4}'}
    response = post(llm_server, f"/v2/models/{MODEL}/versions/1/generate", body)
    assert response.status_code == 200, response.text
    assert len(response.json()["text_output"]) == 4


def test_health_models_and_metrics_on_the_http_port(llm_server: ServerProcess) -> None:
    assert requests.get(url(llm_server, "/health"), timeout=5).status_code == 200
    models = requests.get(url(llm_server, "/v1/models"), timeout=5).json()
    assert [m["id"] for m in models["data"]] == [MODEL]
    text = requests.get(url(llm_server, "/metrics"), timeout=5).text
    assert f'vllm:num_requests_waiting{{engine="0",model_name="{MODEL}"}}' in text


async def test_devtools_stream_completion_times_every_token(llm_server: ServerProcess) -> None:
    async with aiohttp.ClientSession() as session:
        streamed = await stream_completion(session, f"http://{llm_server.http_url}", "x" * 10, 20)
    assert len(streamed.token_times) == 20
    assert streamed.sent_at < streamed.token_times[0]
    assert streamed.token_times == sorted(streamed.token_times)
