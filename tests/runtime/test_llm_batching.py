"""Continuous batching, seen from outside: concurrent streams share engine iterations, the
latency histograms and token counters move as vLLM's do, and a full KV cache preempts the
newest stream, which is recomputed and finishes as it would have alone, instead of failing."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from gpufleet_devtools.runtime.process import ServerProcess, start_server
from tests.runtime.llm_client import MODEL, gauge, histogram_count, post, stream
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


def streamed_text(server: ServerProcess, prompt: str, max_tokens: int) -> str:
    body = {"prompt": prompt, "max_tokens": max_tokens, "stream": True}
    events = list(stream(server, "/v1/completions", body))
    assert events[-1] == "[DONE]"
    return "".join(e["choices"][0]["text"] for e in events[:-1])


def counters(server: ServerProcess) -> dict[str, float]:
    return {
        "iterations": histogram_count(server, "vllm:iteration_tokens_total"),
        "ttft": histogram_count(server, "vllm:time_to_first_token_seconds"),
        "itl": histogram_count(server, "vllm:inter_token_latency_seconds"),
        "itl_seconds": gauge(server, "vllm:inter_token_latency_seconds_sum"),
        "tpot": histogram_count(server, "vllm:request_time_per_output_token_seconds"),
        "tpot_seconds": gauge(server, "vllm:request_time_per_output_token_seconds_sum"),
        "e2e": histogram_count(server, "vllm:e2e_request_latency_seconds"),
        "prompt_tokens": gauge(server, "vllm:prompt_tokens_total"),
        "generation_tokens": gauge(server, "vllm:generation_tokens_total"),
        "finished_length": server.metric(
            "vllm:request_success_total", model_name=MODEL, finished_reason="length"
        ),
    }


def test_concurrent_streams_share_iterations_and_histograms_move(
    llm_server: ServerProcess,
) -> None:
    streams, tokens = 8, 200
    prompts = [f"request number {i}" for i in range(streams)]
    before = counters(llm_server)
    with ThreadPoolExecutor(max_workers=streams) as pool:
        texts = list(pool.map(lambda p: streamed_text(llm_server, p, tokens), prompts))
    after = counters(llm_server)
    delta = {key: after[key] - before[key] for key in before}

    assert [len(text) for text in texts] == [tokens] * streams
    # One request at a time would take one engine iteration per token: streams x tokens.
    # Sharing iterations, the 8 streams need not many more than one stream's tokens.
    assert delta["iterations"] < streams * tokens / 2
    assert delta["ttft"] == streams
    assert delta["itl"] == streams * (tokens - 1)
    # Each finished stream once, with its mean gap: the gaps' total over the gaps a stream has.
    assert delta["tpot"] == streams
    assert delta["tpot_seconds"] == pytest.approx(delta["itl_seconds"] / (tokens - 1))
    assert delta["e2e"] == streams
    assert delta["finished_length"] == streams
    assert delta["prompt_tokens"] == sum(len(p.encode()) for p in prompts)
    assert delta["generation_tokens"] == streams * tokens


def greedy_text(server: ServerProcess, prompt: str, max_tokens: int) -> str:
    body = {"prompt": prompt, "max_tokens": max_tokens, "stream": True, "temperature": 0}
    events = list(stream(server, "/v1/completions", body))
    assert events[-1] == "[DONE]"
    return "".join(e["choices"][0]["text"] for e in events[:-1])


def test_a_full_kv_cache_preempts_the_newest_stream_which_resumes_where_it_was(
    tmp_path: Path,
) -> None:
    # 224 KV tokens (14 blocks of 16); each request grows to 16 prompt + 96 generated = 112:
    # four are admitted on their prompts, and the cache fills as they decode.
    server = start_server(
        None,
        tmp_path / "server.log",
        ["--kv-cache-tokens", "224", "--max-model-len", "224", "--block-size", "16", "--seed", "1"],
    )
    # Prompts whose greedy answers on these weights change characters all along (most
    # settle into one repeated character, in which a lost or repeated token would not show).
    prompts = [f"0123456789ab{i:04d}" for i in (3, 22, 29, 33)]
    try:
        alone = [greedy_text(server, prompt, 96) for prompt in prompts]
        assert gauge(server, "vllm:num_preemptions_total") == 0
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures: list[Future[str]] = [
                pool.submit(greedy_text, server, prompt, 96) for prompt in prompts
            ]
            wait_for(
                lambda: gauge(server, "vllm:num_preemptions_total") > 0,
                timeout=30,
                what="a preemption",
            )
            together = [future.result(timeout=60) for future in futures]
        # Recomputed from its prompt and the tokens it had, each stream goes on as it would
        # have alone: no token lost, none repeated.
        assert together == alone
        wait_for(
            lambda: gauge(server, "vllm:kv_cache_usage_perc") == 0.0,
            timeout=10,
            what="freed blocks",
        )
        assert gauge(server, "vllm:num_requests_waiting") == 0
        assert gauge(server, "vllm:num_requests_running") == 0
        # Queue time is observed once a request, however often it was preempted.
        assert histogram_count(server, "vllm:request_queue_time_seconds") == 8
    finally:
        assert server.stop() == 0


def test_a_preempted_stream_readmitted_soon_reuses_its_cached_prefix(tmp_path: Path) -> None:
    # 14 blocks of 16 tokens; a short stream (16 + 48 tokens: 4 blocks) and three long ones
    # (16 + 96) are admitted one after another, an iteration or two apart, oldest first.
    # Their fourth blocks (at 49 tokens) do not all fit, so the newest is preempted, its
    # blocks freed tail first, and the others' fourth blocks take its tail. The short
    # stream ends (at 64 tokens) before the long ones need a fifth block (at 65) and frees
    # its own: the newest is readmitted with what is left of its prefix and recomputes
    # only the rest.
    server = start_server(
        None,
        tmp_path / "server.log",
        [
            "--kv-cache-tokens", "224", "--max-model-len", "224", "--block-size", "16",
            "--seed", "1", "--emulate-decode-base-ms", "20",
        ],
    )  # fmt: skip
    prompts = [f"0123456789ab{i:04d}" for i in (3, 22, 29, 33)]
    lengths = [48, 96, 96, 96]
    try:
        alone = [greedy_text(server, p, n) for p, n in zip(prompts, lengths, strict=True)]
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures: list[Future[str]] = []
            for prompt, length in zip(prompts, lengths, strict=True):
                futures.append(pool.submit(greedy_text, server, prompt, length))
                wait_for(
                    lambda: gauge(server, "vllm:num_requests_running") >= len(futures),
                    timeout=30,
                    interval=0.005,  # within an iteration or two (20 ms each)
                    what=f"{len(futures)} streams admitted",
                )
            together = [future.result(timeout=60) for future in futures]
        assert gauge(server, "vllm:num_preemptions_total") > 0
        # The tokens it was spared, in whole blocks; and the reused keys and values are the
        # ones it had: every stream goes on as it would have alone.
        hits = gauge(server, "vllm:prefix_cache_hits_total")
        assert hits > 0
        assert hits % 16 == 0
        assert together == alone
    finally:
        assert server.stop() == 0


def _aborted(server: ServerProcess) -> float:
    return server.metric("vllm:request_success_total", model_name=MODEL, finished_reason="abort")


def _assert_aborted(server: ServerProcess, aborted_before: float) -> None:
    """The stream's sequence was aborted: nothing runs, its KV blocks are free, and the
    server counted one more abort."""
    wait_for(
        lambda: gauge(server, "vllm:num_requests_running") == 0,
        timeout=30,
        what="the abort",
    )
    assert gauge(server, "vllm:kv_cache_usage_perc") == 0.0
    assert _aborted(server) == aborted_before + 1


def test_a_client_that_goes_away_frees_its_kv_cache(llm_server: ServerProcess) -> None:
    aborted_before = _aborted(llm_server)
    events = stream(
        llm_server, "/v1/completions", {"prompt": "bye", "max_tokens": 900, "stream": True}
    )
    next(events)
    wait_for(
        lambda: gauge(llm_server, "vllm:kv_cache_usage_perc") > 0,
        timeout=10,
        what="KV blocks held",
    )
    events.close()  # closes the connection mid-stream
    _assert_aborted(llm_server, aborted_before)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/completions", {"prompt": "bye", "max_tokens": 900}),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "bye"}], "max_tokens": 900},
        ),
        (f"/v2/models/{MODEL}/generate", {"text_input": "bye", "max_tokens": 900}),
    ],
    ids=["completions", "chat", "generate"],
)
def test_a_non_streaming_client_that_times_out_frees_its_kv_cache(
    llm_server: ServerProcess, path: str, body: dict[str, object]
) -> None:
    """An SDK's request timeout closes the connection: the sequence is aborted then, not
    generated to max_tokens for nobody, and the server goes on serving."""
    aborted_before = _aborted(llm_server)
    with pytest.raises(requests.Timeout):
        requests.post(f"http://{llm_server.http_url}{path}", json=body, timeout=0.3)
    _assert_aborted(llm_server, aborted_before)
    served = post(llm_server, "/v1/completions", {"prompt": "still here", "max_tokens": 2})
    assert served.status_code == 200
