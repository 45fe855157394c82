"""SIGTERM in LLM mode: readiness turns false, new requests get 503, every request already
accepted (streaming, or still queued for KV capacity) runs to its end, then the process
exits 0."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from gpufleet_devtools.runtime.process import start_server
from tests.runtime.llm_client import gauge, post, stream
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


def test_sigterm_finishes_streams_in_flight_and_refuses_new(tmp_path: Path) -> None:
    server = start_server(
        None,
        tmp_path / "server.log",
        ["--kv-cache-tokens", "1024", "--max-model-len", "1024", "--exit-timeout-secs", "60"],
    )
    long_stream = stream(
        server, "/v1/completions", {"prompt": "a" * 700, "max_tokens": 300, "stream": True}
    )
    first = next(long_stream)  # generating
    with ThreadPoolExecutor(max_workers=1) as pool:
        # 1,024 KV tokens in blocks of 16: a 400-token prompt does not fit beside the first
        # request's 700 and more (44 blocks and growing, of 64): it waits for KV.
        queued = pool.submit(
            lambda: list(
                stream(
                    server,
                    "/v1/completions",
                    {"prompt": "b" * 400, "max_tokens": 100, "stream": True},
                )
            )
        )
        wait_for(
            lambda: gauge(server, "vllm:num_requests_waiting") == 1,
            timeout=30,
            what="a queued request",
        )

        server.process.send_signal(signal.SIGTERM)
        wait_for(lambda: not server.ready(), timeout=10, what="readiness to turn false")
        refused = post(server, "/v1/completions", {"prompt": "c", "max_tokens": 1})
        assert refused.status_code == 503
        assert "shutting down" in refused.json()["error"]["message"]

        rest: list[Any] = list(long_stream)
        queued_events = queued.result(timeout=60)
    assert rest[-1] == "[DONE]"
    assert len([first, *rest[:-1]]) == 300
    assert queued_events[-1] == "[DONE]"
    assert len(queued_events) - 1 == 100
    assert server.process.wait(timeout=30) == 0
