"""A plain-HTTP client for the LLM mode: JSON posts and server-sent event streams read line by
line as they arrive (requests with stream=True), the way any OpenAI-compatible client does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import requests

from gpufleet_devtools.runtime.process import ServerProcess

MODEL = "gpufleet-llm"
TIMEOUT_S = 60


def url(server: ServerProcess, path: str) -> str:
    return f"http://{server.http_url}{path}"


def post(server: ServerProcess, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(url(server, path), json=body, timeout=TIMEOUT_S)


def stream(server: ServerProcess, path: str, body: dict[str, Any]) -> Iterator[Any]:
    """The decoded ``data:`` payloads of a server-sent event stream, as they arrive; the
    literal ``[DONE]`` comes through as the string "[DONE]"."""
    with requests.post(url(server, path), json=body, timeout=TIMEOUT_S, stream=True) as response:
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if not line:
                continue
            assert line.startswith(b"data: "), line
            data = line.removeprefix(b"data: ").decode()
            yield data if data == "[DONE]" else json.loads(data)


def histogram_count(server: ServerProcess, name: str) -> float:
    return server.metric(f"{name}_count", model_name=MODEL)


def gauge(server: ServerProcess, name: str) -> float:
    return server.metric(name, model_name=MODEL)
