"""The LLM mode on CUDA (fp32 and fp16): streams generate every token and concurrent streams
share iterations; runs only where CUDA is available."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from gpufleet_devtools.runtime.process import start_server
from tests.runtime.llm_client import histogram_count, stream

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.slow,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (no GPU here)"),
]


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_llm_streams_on_cuda(tmp_path: Path, dtype: str) -> None:
    server = start_server(None, tmp_path / "server.log", ["--device", "cuda", "--dtype", dtype])
    try:
        assert "on cuda" in (tmp_path / "server.log").read_text()
        before = histogram_count(server, "vllm:iteration_tokens_total")

        def one(index: int) -> int:
            body = {"prompt": f"cuda stream {index}", "max_tokens": 100, "stream": True}
            events = list(stream(server, "/v1/completions", body))
            assert events[-1] == "[DONE]"
            return len(events) - 1

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert list(pool.map(one, range(8))) == [100] * 8
        assert histogram_count(server, "vllm:iteration_tokens_total") - before < 8 * 100 / 2
    finally:
        assert server.stop() == 0
