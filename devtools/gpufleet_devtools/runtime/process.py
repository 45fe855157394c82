"""gpufleet-server run as a subprocess on free local ports, with helpers to wait for it and
to read single samples from its /metrics."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gpufleet_devtools.waiting import wait_for

START_TIMEOUT_S = 60.0
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_status(url: str) -> int | None:
    """The status of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return None


def metric_value(metrics_text: str, name: str, labels: dict[str, str]) -> float:
    """One sample, matched by exact name and a subset of its labels."""
    for line in metrics_text.splitlines():
        match = _SAMPLE.match(line)
        if not match or match["name"] != name:
            continue
        found = dict(_LABEL.findall(match["labels"] or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match["value"])
    raise KeyError(f"no sample {name}{labels}")


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    http_port: int
    grpc_port: int
    metrics_port: int
    log_path: Path

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def ready(self) -> bool:
        return http_status(f"http://{self.http_url}/v2/health/ready") == 200

    def metrics_text(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    def metric(self, name: str, **labels: str) -> float:
        return metric_value(self.metrics_text(), name, labels)

    def stop(self, timeout_s: float = 30) -> int:
        """SIGTERM (the graceful drain) and the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)


def start_server(
    repository: Path | None,
    log_path: Path,
    extra_args: Sequence[str] = (),
    torch_threads: int = 1,
) -> ServerProcess:
    """Start the server on 127.0.0.1 and return once it reports ready; without a repository
    it runs in LLM mode (``--mode llm``, settings in ``extra_args``)."""
    ports = [free_port() for _ in range(3)]
    source = ["--mode", "llm"] if repository is None else ["--model-repository", str(repository)]
    command = [
        sys.executable, "-m", "gpufleet_server.cli", *source, "--host", "127.0.0.1",
        "--http-port", str(ports[0]), "--grpc-port", str(ports[1]),
        "--metrics-port", str(ports[2]), *extra_args,
    ]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": str(torch_threads)}
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, env=environment
        )
    server = ServerProcess(process, ports[0], ports[1], ports[2], log_path)

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"server exited early:\n{log_path.read_text()}")
        return server.ready()

    wait_for(up, timeout=START_TIMEOUT_S, interval=0.02, what="the server to become ready")
    return server
