"""A ModelDeployment of the torch runtime's LLM mode runs as the operator writes it: the real
gpufleet-server, started with the pod's command (only the ports moved to free local ones),
answers the pod's probes, exports vLLM's metrics under the model's name where the pod's
scrape annotations point, streams a completion through the Service's port, and on SIGTERM
leaves the Service (readiness false) while it stays live and finishes the stream."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from gpufleet.domain.manifests.children import DEPLOYMENT, SERVICE
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.spec import parse_spec
from gpufleet_devtools.runtime.process import free_port, http_status, metric_value
from gpufleet_server.cli import parse_options
from tests.operator.specs import minimal_spec
from tests.support.waiting import wait_for

OWNER = Owner("tiny-llm", "ml", "uid-1")
MODEL = "tiny-llm"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tiny-llm-torch.yaml"
SPEC = minimal_spec(
    model={"name": MODEL, "repository": "seed://11"},
    runtime={
        "type": "torch",
        "torch": {"mode": "llm"},
        "args": [
            # A one-layer model whose CPU work is small; each iteration lasts at least 20 ms
            # (the emulated device), so a 100-token stream is still running when SIGTERM comes.
            "--num-layers=1",
            "--hidden-size=32",
            "--num-heads=2",
            "--max-model-len=512",
            "--emulate-decode-base-ms=20",
        ],
        "exitTimeoutSeconds": 60,
    },
    resources={"gpus": 0, "gpuType": "cpu"},
    slo={"ttftP95Ms": 1000, "itlP95Ms": 100},
)
STREAMED_TOKENS = 100
# What the operator's LLM reader queries (gpufleet.metrics.queries, engine vllm).
VLLM_METRICS = [
    "vllm:num_requests_waiting",
    "vllm:num_requests_running",
    "vllm:kv_cache_usage_perc",
    "vllm:time_to_first_token_seconds_count",
    "vllm:inter_token_latency_seconds_count",
    "vllm:e2e_request_latency_seconds_count",
    "vllm:prompt_tokens_total",
    "vllm:generation_tokens_total",
]


class Pod:
    """The server container of the Deployment the operator builds, run as a local process."""

    def __init__(self, spec: dict[str, Any], log_path: Path) -> None:
        parsed = parse_spec(spec)
        template = DEPLOYMENT.build(OWNER, parsed)["spec"]["template"]
        self.annotations: dict[str, str] = template["metadata"]["annotations"]
        (self.container,) = template["spec"]["containers"]
        self.service: dict[str, Any] = SERVICE.build(OWNER, parsed)
        declared = {p["containerPort"] for p in self.container["ports"]}
        self.local_port = {port: free_port() for port in declared}
        command = list(self.container["command"])
        assert command[0] == "gpufleet-server"
        argv = [sys.executable, "-m", "gpufleet_server.cli", *map(self._local_flag, command[1:])]
        env = {item["name"]: item["value"] for item in self.container["env"]}
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "OMP_NUM_THREADS": "1", **env},
            )

    def _local_flag(self, arg: str) -> str:
        flag, _, value = arg.partition("=")
        if flag.endswith("-port"):
            port = int(value)
            assert port in self.local_port, f"{flag}={port} is not a declared container port"
            return f"{flag}={self.local_port[port]}"
        return arg

    def _named_port(self, name: str) -> int:
        (port,) = [p["containerPort"] for p in self.container["ports"] if p["name"] == name]
        return self.local_port[port]

    def probe(self, kind: str) -> int | None:
        get = self.container[kind]["httpGet"]
        return http_status(f"http://127.0.0.1:{self._named_port(get['port'])}{get['path']}")

    def started(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the server exited:\n{self.log_path.read_text()}")
        return self.probe("startupProbe") == 200

    def service_url(self, port_name: str) -> str:
        (port,) = [p for p in self.service["spec"]["ports"] if p["name"] == port_name]
        return f"http://127.0.0.1:{self._named_port(port['targetPort'])}"

    def scraped(self, name: str) -> float:
        port = self.local_port[int(self.annotations["prometheus.io/port"])]
        url = f"http://127.0.0.1:{port}{self.annotations['prometheus.io/path']}"
        return metric_value(requests.get(url, timeout=5).text, name, {"model_name": MODEL})


@pytest.fixture
def pod(tmp_path: Path) -> Iterator[Pod]:
    running = Pod(SPEC, tmp_path / "server.log")
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def _events(response: requests.Response) -> Iterator[Any]:
    for line in response.iter_lines():
        if line:
            assert line.startswith(b"data: "), line
            data = line.removeprefix(b"data: ").decode()
            yield data if data == "[DONE]" else json.loads(data)


@pytest.mark.slow
def test_the_pod_the_operator_builds_serves_probes_metrics_and_streams(pod: Pod) -> None:
    wait_for(pod.started, timeout=60, interval=0.05, what="the startup probe to pass")
    assert pod.probe("readinessProbe") == 200
    assert pod.probe("livenessProbe") == 200
    for name in VLLM_METRICS:
        pod.scraped(name)  # each one exported, labelled with the spec's model name

    url = f"{pod.service_url('http')}/v1/completions"
    body = {"model": MODEL, "prompt": "Hello", "max_tokens": 20, "stream": True}
    with requests.post(url, json=body, stream=True, timeout=60) as response:
        assert response.status_code == 200, response.text
        assert len(list(_events(response))) == 20 + 1  # the tokens, then [DONE]
    assert pod.scraped("vllm:generation_tokens_total") == 20
    assert pod.scraped("vllm:time_to_first_token_seconds_count") == 1

    body["max_tokens"] = STREAMED_TOKENS
    with requests.post(url, json=body, stream=True, timeout=60) as response:
        assert response.status_code == 200, response.text
        events = _events(response)
        first = next(events)
        assert first["model"] == MODEL

        # A scaled-in pod: it leaves the Service, stays live and finishes its stream.
        pod.process.send_signal(signal.SIGTERM)
        wait_for(lambda: pod.probe("readinessProbe") == 503, timeout=10, what="not ready")
        assert pod.probe("livenessProbe") == 200
        rest = list(events)
    assert rest[-1] == "[DONE]"
    assert len([first, *rest[:-1]]) == STREAMED_TOKENS
    assert pod.process.wait(timeout=30) == 0


def test_the_example_pod_command_is_one_the_server_accepts() -> None:
    example = yaml.safe_load(EXAMPLE.read_text())
    template = DEPLOYMENT.build(OWNER, parse_spec(example["spec"]))["spec"]["template"]
    (container,) = template["spec"]["containers"]
    options, _ = parse_options(container["command"][1:])
    assert options.mode == "llm"
    assert options.llm is not None
    assert options.llm.served_model_name == example["spec"]["model"]["name"]
