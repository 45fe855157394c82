"""A real Prometheus for tests and the local fleet: the Debian ``prometheus`` binary.

Scrapes targets listed in a ``file_sd`` JSON file, each with its own labels
(namespace, modeldeployment, pod, as the operator's queries group by), so
targets come and go without a restart: ``set_targets`` rewrites the file
atomically and Prometheus picks it up (``refresh_interval`` = the scrape interval).

    with PrometheusServer(scrape_interval_s=1.0) as prom:
        prom.set_targets([ScrapeTarget("127.0.0.1:8002", {"pod": "a-0", ...})])
        prom.url  # http://127.0.0.1:<port>

Binds 127.0.0.1 only; storage lives in a temporary directory removed on stop.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from gpufleet_devtools import processes

PROMETHEUS_BINARY = "/usr/bin/prometheus"


@dataclass(frozen=True, slots=True)
class ScrapeTarget:
    address: str
    """host:port serving /metrics."""
    labels: Mapping[str, str] = field(default_factory=dict)


def _config(scrape_interval_s: float, targets_file: Path, honor_labels: bool) -> str:
    interval = f"{max(1, round(scrape_interval_s * 1000))}ms"
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {
                "job_name": "gpufleet",
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "honor_labels": honor_labels,
                "file_sd_configs": [{"files": [str(targets_file)], "refresh_interval": interval}],
            }
        ],
    }
    return json.dumps(config)  # YAML is a superset of JSON


class PrometheusServer:
    def __init__(
        self,
        scrape_interval_s: float = 1.0,
        *,
        port: int | None = None,
        honor_labels: bool = False,
        binary: str = PROMETHEUS_BINARY,
        startup_timeout_s: float = 30.0,
        preexec_fn: Callable[[], None] | None = None,
        tmp_root: Path | None = None,
    ) -> None:
        """``preexec_fn`` runs in the child before ``exec`` (the local fleet ties the
        server's lifetime to its own there); ``tmp_root`` is where its temporary directory
        goes (default: the system's), so what a killed owner leaves is somewhere it knows."""
        self.scrape_interval_s = scrape_interval_s
        self.port = port or processes.free_port()
        self._honor_labels = honor_labels
        self._binary = binary
        self._startup_timeout_s = startup_timeout_s
        self._preexec_fn = preexec_fn
        self._tmp_root = tmp_root
        self._workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server's pid while it runs."""
        if self._process is None or self._process.poll() is not None:
            return None
        return self._process.pid

    @property
    def targets_file(self) -> Path:
        assert self._workdir is not None, "start() first"
        return self._workdir / "targets.json"

    def start(self) -> PrometheusServer:
        self.launch()
        self.wait_ready()
        return self

    def launch(self) -> None:
        """Spawn the server without waiting for it (``wait_ready`` does)."""
        if self._workdir is None:
            prefix = "gpufleet-prometheus-"
            self._workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=self._tmp_root))
            if not self.targets_file.exists():
                self.set_targets([])
        config = self._workdir / "prometheus.yml"
        config.write_text(_config(self.scrape_interval_s, self.targets_file, self._honor_labels))
        log = (self._workdir / "prometheus.log").open("ab")
        self._process = subprocess.Popen(
            [
                self._binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self._workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=self._preexec_fn,
        )
        log.close()

    def set_targets(self, targets: Sequence[ScrapeTarget]) -> None:
        """Replace the scraped targets; written atomically (temp file + rename)."""
        payload = [{"targets": [t.address], "labels": dict(t.labels)} for t in targets]
        tmp = self.targets_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload))
        os.replace(tmp, self.targets_file)

    def _log_path(self) -> Path | None:
        return None if self._workdir is None else self._workdir / "prometheus.log"

    def wait_ready(self) -> None:
        """Block until the server answers ``/-/ready``; stop it if it never does."""
        try:
            processes.wait_until_healthy(
                self._process,
                f"{self.url}/-/ready",
                name="prometheus",
                timeout_s=self._startup_timeout_s,
                log=self._log_path(),
            )
        except TimeoutError:
            self.stop()
            raise

    def log(self) -> str:
        return processes.tail(self._log_path())

    def stop(self, *, keep_data: bool = False) -> None:
        """Stop the server; ``keep_data=True`` keeps config, targets and TSDB for ``start()``."""
        processes.stop(self._process, signal.SIGTERM, timeout_s=15)
        self._process = None
        if not keep_data and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
