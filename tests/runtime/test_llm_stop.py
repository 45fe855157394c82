"""Stop sequences: generation ends when the text ends with one, finish_reason is "stop", and the
stop sequence itself is never sent, streamed or not."""

from __future__ import annotations

import pytest

from gpufleet_devtools.runtime.process import ServerProcess
from gpufleet_server.llm.stop import StopText
from tests.runtime.llm_client import MODEL, post, stream


@pytest.mark.parametrize(
    ("stop", "generated", "finish", "sent"),
    [
        (["END"], "abcEND", "stop", "abc"),
        (["aab"], "xaaab", "stop", "xa"),  # overlapping prefixes: only "aab" is withheld
        (["ab", "zzz"], "zzab", "stop", "zz"),
        (["END"], "abEN", "length", "abEN"),  # a partial match is sent once generation ends
        ([], "plain", "length", "plain"),
    ],
)
def test_stop_text_withholds_only_the_stop_sequence(
    stop: list[str], generated: str, finish: str, sent: str
) -> None:
    text = StopText(stop)
    tokens = list(generated.encode())
    deltas = [text.delta(token, None) for token in tokens[:-1]]
    deltas.append(text.delta(tokens[-1], finish))
    assert "".join(deltas) == sent


@pytest.mark.slow
def test_completion_ends_at_a_stop_sequence(llm_server: ServerProcess) -> None:
    body = {"prompt": "Stop here", "max_tokens": 40, "temperature": 0}
    greedy = post(llm_server, "/v1/completions", body).json()["choices"][0]["text"]
    stop = greedy[10:13]
    expected = greedy[: greedy.index(stop)]
    stops_before = llm_server.metric(
        "vllm:request_success_total", model_name=MODEL, finished_reason="stop"
    )

    whole = post(llm_server, "/v1/completions", {**body, "stop": stop}).json()
    assert whole["choices"][0]["text"] == expected
    assert whole["choices"][0]["finish_reason"] == "stop"
    assert whole["usage"]["completion_tokens"] == len(expected) + len(stop)

    events = list(stream(llm_server, "/v1/completions", {**body, "stop": [stop], "stream": True}))
    chunks = events[:-1]
    assert "".join(c["choices"][0]["text"] for c in chunks) == expected
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert (
        llm_server.metric("vllm:request_success_total", model_name=MODEL, finished_reason="stop")
        == stops_before + 2
    )
