"""What unmodified clients send the LLM mode: the openai SDK's and LangChain's payloads (nulls for
unset fields, vLLM's sampling extras), Triton's vLLM- and TensorRT-LLM-backend generate
inputs. Each parameter is either served or refused with a 400 naming it, never ignored."""

from __future__ import annotations

from typing import Any

import pytest

from gpufleet_devtools.runtime.process import ServerProcess
from tests.runtime.llm_client import MODEL, gauge, post, stream
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

CHAT = [{"role": "user", "content": "hi"}]
GENERATE = f"/v2/models/{MODEL}/generate"


def text_of(response: Any) -> str:
    assert response.status_code == 200, response.text
    choice = response.json()["choices"][0]
    return str(choice["message"]["content"] if "message" in choice else choice["text"])


@pytest.mark.parametrize(
    ("path", "body"),
    [
        # Null means "not set" (LangChain's ChatOpenAI sends max_tokens, n, stop as null).
        ("/v1/completions", {"prompt": "x", "max_tokens": None}),
        ("/v1/completions", {"prompt": "x", "temperature": None, "n": None, "stream": None}),
        ("/v1/completions", {"prompt": "x", "stop": None, "stream_options": None, "seed": None}),
        ("/v1/chat/completions", {"messages": CHAT, "max_tokens": None, "n": None}),
        ("/v1/chat/completions", {"messages": CHAT, "max_completion_tokens": None}),
        # Neutral values of what is not implemented, and hints that change no output.
        (
            "/v1/completions",
            {"prompt": "x", "best_of": 1, "logprobs": None, "presence_penalty": 0,
             "frequency_penalty": 0.0, "logit_bias": {}, "user": "u", "echo": False},
        ),
        (
            "/v1/chat/completions",
            {"messages": CHAT, "logprobs": False, "top_logprobs": 0, "user": "u",
             "response_format": {"type": "text"}, "tool_choice": "none", "parallel_tool_calls":
             False, "store": False, "metadata": {}},
        ),
        (
            "/v1/chat/completions",
            {"messages": CHAT, "tools": [{"type": "function", "function": {"name": "f"}}],
             "tool_choice": "none"},
        ),
        (GENERATE, {"text_input": "x", "parameters": None, "bad_words": "", "stop_words": ""}),
        (GENERATE, {"text_input": "x", "sampling_parameters": '{"stop": "\\n", "top_p": 0.9}'}),
    ],
)  # fmt: skip
def test_unset_and_neutral_parameters_are_served(
    llm_server: ServerProcess, path: str, body: dict[str, Any]
) -> None:
    response = post(llm_server, path, body)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/completions", {"prompt": "x", "best_of": 2}, "best_of"),
        ("/v1/completions", {"prompt": "x", "logprobs": 0}, "logprobs"),
        ("/v1/completions", {"prompt": "x", "logprobs": 5}, "logprobs"),
        ("/v1/completions", {"prompt": "x", "presence_penalty": 0.5}, "presence_penalty"),
        ("/v1/completions", {"prompt": "x", "frequency_penalty": -1}, "frequency_penalty"),
        ("/v1/completions", {"prompt": "x", "repetition_penalty": 1.2}, "repetition_penalty"),
        ("/v1/completions", {"prompt": "x", "logit_bias": {"50": 100}}, "logit_bias"),
        ("/v1/completions", {"prompt": "x", "suffix": "end"}, "suffix"),
        ("/v1/completions", {"prompt": "x", "min_tokens": 4}, "min_tokens"),
        ("/v1/completions", {"prompt": "x", "stop_token_ids": [10]}, "stop_token_ids"),
        ("/v1/completions", {"prompt": "x", "use_beam_search": True}, "use_beam_search"),
        ("/v1/completions", {"prompt": "x", "guided_regex": "a+"}, "guided_regex"),
        ("/v1/chat/completions", {"messages": CHAT, "logprobs": True}, "logprobs"),
        ("/v1/chat/completions", {"messages": CHAT, "top_logprobs": 3}, "top_logprobs"),
        (
            "/v1/chat/completions",
            {"messages": CHAT, "response_format": {"type": "json_object"}},
            "response_format",
        ),
        (
            "/v1/chat/completions",
            {"messages": CHAT, "tools": [{"type": "function", "function": {"name": "f"}}]},
            "tools",
        ),
        ("/v1/chat/completions", {"messages": CHAT, "tool_choice": "required"}, "tool_choice"),
    ],
)
def test_parameters_not_served_are_refused_by_name(
    llm_server: ServerProcess, path: str, body: dict[str, Any], field: str
) -> None:
    response = post(llm_server, path, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == field
    assert error["message"].startswith(f"{field}:")
    assert error["type"] == "BadRequestError"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text_input": "x", "parameters": {"presence_penalty": 1}}, "presence_penalty"),
        ({"text_input": "x", "sampling_parameters": '{"logprobs": 2}'}, "logprobs"),
        ({"text_input": "x", "stop_words": ["END"]}, "stop_words"),  # TensorRT-LLM's input
        ({"text_input": "x", "sampling_parameters": "[1]"}, "sampling_parameters"),
        ({"text_input": "x", "parameters": {"top_p": 0}}, "top_p"),
    ],
)
def test_generate_refuses_what_it_does_not_serve_by_name(
    llm_server: ServerProcess, body: dict[str, Any], field: str
) -> None:
    response = post(llm_server, GENERATE, body)
    assert response.status_code == 400, response.text
    assert field in response.json()["error"]


def test_top_k_1_and_a_tiny_top_p_sample_the_greedy_token(llm_server: ServerProcess) -> None:
    body = {"prompt": "Sampling filters", "max_tokens": 24}
    greedy = text_of(post(llm_server, "/v1/completions", {**body, "temperature": 0}))
    for filters in ({"top_k": 1}, {"top_p": 1e-6}, {"top_k": 1, "top_p": 0.5}):
        assert text_of(post(llm_server, "/v1/completions", {**body, **filters})) == greedy
    chat = {"messages": CHAT, "max_tokens": 10}
    chat_greedy = text_of(post(llm_server, "/v1/chat/completions", {**chat, "temperature": 0}))
    assert text_of(post(llm_server, "/v1/chat/completions", {**chat, "top_k": 1})) == chat_greedy
    generated = post(llm_server, GENERATE, {"text_input": "Sampling filters", "max_tokens": 24,
                                            "parameters": {"top_k": 1}})  # fmt: skip
    assert generated.json()["text_output"] == greedy


def test_a_seed_makes_sampling_reproducible(llm_server: ServerProcess) -> None:
    body = {"prompt": "Seeded", "max_tokens": 32, "temperature": 1.0}
    first = text_of(post(llm_server, "/v1/completions", {**body, "seed": 1234}))
    assert text_of(post(llm_server, "/v1/completions", {**body, "seed": 1234})) == first
    events = stream(llm_server, "/v1/completions", {**body, "seed": 1234, "stream": True})
    assert "".join(e["choices"][0]["text"] for e in events if e != "[DONE]") == first
    others = {text_of(post(llm_server, "/v1/completions", {**body, "seed": s})) for s in (1, 2)}
    assert first not in others  # 32 sampled characters: a collision is not a coincidence


def test_echo_prepends_the_prompt(llm_server: ServerProcess) -> None:
    body = {"prompt": "Echo me: ", "max_tokens": 5, "temperature": 0}
    plain = text_of(post(llm_server, "/v1/completions", body))
    echoed = post(llm_server, "/v1/completions", {**body, "echo": True})
    assert text_of(echoed) == "Echo me: " + plain
    assert echoed.json()["usage"]["completion_tokens"] == 5
    events = stream(llm_server, "/v1/completions", {**body, "echo": True, "stream": True})
    assert "".join(e["choices"][0]["text"] for e in events if e != "[DONE]") == "Echo me: " + plain
    ids = post(llm_server, "/v1/completions", {**body, "prompt": [72, 105], "echo": True})
    assert text_of(ids).startswith("Hi")
    # Chat echoes the last message when it is the assistant's (vLLM's rule).
    turn = [*CHAT, {"role": "assistant", "content": "Sure, "}]
    chat = {"messages": turn, "max_tokens": 3, "temperature": 0}
    chat_plain = text_of(post(llm_server, "/v1/chat/completions", chat))
    chat_echoed = text_of(post(llm_server, "/v1/chat/completions", {**chat, "echo": True}))
    assert chat_echoed == "Sure, " + chat_plain
    assert text_of(post(llm_server, "/v1/chat/completions", {"messages": CHAT, "echo": True,
                                                              "max_tokens": 2})) != ""  # fmt: skip


@pytest.mark.parametrize(
    "parameters",
    [
        {"parameters": {"stop": "STOP_AT"}},
        {"sampling_parameters": '{"stop": "STOP_AT"}'},  # Triton's vLLM backend: a string
        {"parameters": {"stop": ["STOP_AT"]}},
    ],
)
def test_generate_honours_stop_as_a_string_or_a_list(
    llm_server: ServerProcess, parameters: dict[str, Any]
) -> None:
    base = {"text_input": "Stop words", "max_tokens": 30, "temperature": 0}
    greedy = post(llm_server, GENERATE, base).json()["text_output"]
    stop = greedy[8:11]
    body = {**base, **parameters}
    for key in ("parameters", "sampling_parameters"):
        if key in body:
            body[key] = (
                body[key].replace("STOP_AT", stop)
                if isinstance(body[key], str)
                else {"stop": [stop] if isinstance(body[key]["stop"], list) else stop}
            )
    response = post(llm_server, GENERATE, body)
    assert response.status_code == 200, response.text
    assert response.json()["text_output"] == greedy[: greedy.index(stop)]


def choice_texts(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    choices = response.json()["choices"]
    assert [c["index"] for c in choices] == list(range(len(choices)))
    return [c["message"]["content"] if "message" in c else c["text"] for c in choices]


def test_n_choices_and_a_batch_of_prompts_are_served(llm_server: ServerProcess) -> None:
    greedy = {"max_tokens": 6, "temperature": 0}
    one = choice_texts(post(llm_server, "/v1/completions", {"prompt": "a", **greedy}))
    two = choice_texts(post(llm_server, "/v1/completions", {"prompt": [98, 98], **greedy}))
    # vLLM's order: prompt i's choice j is choice i*n+j; usage counts each prompt once.
    batch = {"prompt": ["a", "bb"], "n": 2, **greedy}
    response = post(llm_server, "/v1/completions", batch)
    assert choice_texts(response) == one * 2 + two * 2
    assert response.json()["usage"] == {
        "prompt_tokens": 3, "completion_tokens": 24, "total_tokens": 27
    }  # fmt: skip
    chat = {"messages": CHAT, "n": 3, **greedy}
    chat_texts = choice_texts(post(llm_server, "/v1/chat/completions", chat))
    assert len(chat_texts) == 3
    assert len(set(chat_texts)) == 1
    # Sampled choices are independent samples; a seed's first choice is what n=1 gives.
    seeded = {"prompt": "Seeded n", "max_tokens": 24, "seed": 7}
    alone = choice_texts(post(llm_server, "/v1/completions", seeded))
    choices = choice_texts(post(llm_server, "/v1/completions", {**seeded, "n": 3}))
    assert choices[0] == alone[0]
    assert len(set(choices)) == 3


@pytest.mark.parametrize("path", ["/v1/completions", "/v1/chat/completions"])
def test_n_choices_stream_interleaved_by_index(llm_server: ServerProcess, path: str) -> None:
    body: dict[str, Any] = {"max_tokens": 8, "temperature": 0, "n": 2}
    body.update({"messages": CHAT} if "chat" in path else {"prompt": "interleaved"})
    expected = choice_texts(post(llm_server, path, body))
    events = list(
        stream(
            llm_server, path, {**body, "stream": True, "stream_options": {"include_usage": True}}
        )
    )
    assert events[-1] == "[DONE]"
    assert events[-2]["usage"]["completion_tokens"] == 16
    texts = ["", ""]
    finished = [0, 0]
    for chunk in events[:-2]:
        (choice,) = chunk["choices"]
        part = choice["delta"].get("content", "") if "delta" in choice else choice["text"]
        texts[choice["index"]] += part
        finished[choice["index"]] += choice["finish_reason"] == "length"
    assert texts == expected
    assert finished == [1, 1]


def test_a_refused_prompt_of_a_batch_leaves_no_sequence_behind(llm_server: ServerProcess) -> None:
    too_long = "x" * 2000  # over the server's max_model_len
    response = post(llm_server, "/v1/completions", {"prompt": ["fine", too_long], "n": 2})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "prompt"  # the prompt alone is over the limit
    wait_for(lambda: gauge(llm_server, "vllm:num_requests_running") == 0, timeout=10,
             what="the batch's first prompt aborted")  # fmt: skip
    assert gauge(llm_server, "vllm:num_requests_waiting") == 0
    assert gauge(llm_server, "vllm:kv_cache_usage_perc") == 0.0
