"""A real Triton Inference Server for tests and the local fleet.

Runs the ``tritonserver`` binary bundled in ``nvidia-pytriton`` directly (not
through pytriton's proxy), on 127.0.0.1 with free HTTP/gRPC/metrics ports and
``--metrics-config summary_latencies=true``. The bundle carries only the python
backend; :func:`write_torch_model` writes a repository whose model is a small
torch MLP served through a python-backend ``model.py``.

The python backend needs its stub for this interpreter's version next to
``libtriton_python.so``: a private backend directory of symlinks provides it, as
pytriton does by copying. The stub embeds the system libpython, which is why the
venv is made from /usr/bin/python3; ``PYTHONPATH`` lends it the venv's torch.

    repo = write_torch_model(tmp_path / "repo", "mlp", work_ms=20)
    with TritonServer(repo) as triton:
        triton.http_url, triton.metrics_url
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import uuid
from pathlib import Path
from textwrap import dedent
from types import TracebackType

from gpufleet_devtools import processes


def _pytriton_root() -> Path:
    import pytriton

    return Path(pytriton.__file__).parent


def bundled_tritonserver() -> Path:
    """The ``tritonserver`` binary of the installed nvidia-pytriton."""
    binary = _pytriton_root() / "tritonserver" / "bin" / "tritonserver"
    if not binary.exists():
        raise FileNotFoundError(f"no tritonserver in nvidia-pytriton at {binary}")
    return binary


def _libs_dir() -> Path:
    """Shared libraries tritonserver links against (the wheel's auditwheel dir)."""
    root = _pytriton_root()
    for candidate in (
        root.parent / "nvidia_pytriton.libs",
        root / "tritonserver" / "external_libs",
    ):
        if candidate.exists():
            return candidate
    raise FileNotFoundError("nvidia_pytriton.libs not found next to pytriton")


def backends_dir(workdir: Path) -> Path:
    """``workdir/backends``: the bundled python backend with this interpreter's stub.

    The stub embeds libpython, so it must match the Python running the venv (Debian's
    3.11 here). Idempotent: a pod restarted in the same workdir reuses it.
    """
    bundled = _pytriton_root() / "tritonserver"
    python_dir = workdir / "backends" / "python"
    if (python_dir / "triton_python_backend_stub").exists():
        return workdir / "backends"
    python_dir.mkdir(parents=True, exist_ok=True)
    for item in (bundled / "backends" / "python").iterdir():
        if item.name != "__pycache__" and not (python_dir / item.name).exists():
            (python_dir / item.name).symlink_to(item)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = bundled / "python_backend_stubs" / version / "triton_python_backend_stub"
    (python_dir / "triton_python_backend_stub").symlink_to(stub)
    return workdir / "backends"


def server_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` plus the bundle's libraries, and the venv's packages for the stub's Python."""

    def prepend(name: str, value: str) -> str:
        return f"{value}:{env[name]}" if env.get(name) else value

    return {
        **env,
        "LD_LIBRARY_PATH": prepend("LD_LIBRARY_PATH", str(_libs_dir())),
        "PYTHONPATH": prepend("PYTHONPATH", sysconfig.get_paths()["purelib"]),
        "PATH": prepend("PATH", str(Path(sys.executable).parent)),
    }


_MODEL_PY = '''
"""A small torch MLP behind Triton's python backend; ``work_ms`` adds a fixed
execution time so a load generator can build real queues without burning CPU."""

import json
import time

import numpy as np
import torch
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = config.get("parameters", {})
        self.work_s = float(params.get("work_ms", {}).get("string_value", "0")) / 1000.0
        torch.manual_seed(0)
        torch.set_num_threads(1)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4)
        ).eval()

    def execute(self, requests):
        inputs = [pb_utils.get_input_tensor_by_name(r, "INPUT").as_numpy() for r in requests]
        if any(x[0, 0] < 0 for x in inputs):
            # A model that fails: the whole execution, as a crash or a CUDA error would.
            # (An error *response* Triton's python backend counts as a success.)
            raise pb_utils.TritonModelException("negative input")
        sizes = [x.shape[0] for x in inputs]
        with torch.no_grad():
            out = self.net(torch.from_numpy(np.concatenate(inputs))).numpy()
        if self.work_s:
            time.sleep(self.work_s)
        responses, start = [], 0
        for size in sizes:
            chunk = out[start : start + size].astype(np.float32)
            start += size
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT", chunk)]))
        return responses
'''


def write_torch_model(
    repository: Path,
    name: str = "mlp",
    *,
    work_ms: float = 0.0,
    max_batch_size: int = 8,
    queue_timeout_ms: float | None = None,
) -> Path:
    """Write a Triton model repository with one python-backend torch model.

    Input ``INPUT`` FP32 [batch, 16], output ``OUTPUT`` FP32 [batch, 4]; dynamic
    batching on, one CPU instance (one execution at a time, like one GPU). An execution
    with a request whose first input value is negative fails in the model (Triton counts
    its requests as ``BACKEND`` failures). With ``queue_timeout_ms``,
    a request that waited longer in the queue is rejected (Triton's queue policy).
    """
    policy = (
        ""
        if queue_timeout_ms is None
        else " default_queue_policy { timeout_action: REJECT "
        f"default_timeout_microseconds: {round(queue_timeout_ms * 1000)} }}"
    )
    model_dir = repository / name
    (model_dir / "1").mkdir(parents=True, exist_ok=True)
    (model_dir / "1" / "model.py").write_text(_MODEL_PY.lstrip())
    (model_dir / "config.pbtxt").write_text(
        dedent(
            f"""\
            name: "{name}"
            backend: "python"
            max_batch_size: {max_batch_size}
            input [ {{ name: "INPUT", data_type: TYPE_FP32, dims: [ 16 ] }} ]
            output [ {{ name: "OUTPUT", data_type: TYPE_FP32, dims: [ 4 ] }} ]
            dynamic_batching {{ max_queue_delay_microseconds: 1000{policy} }}
            instance_group [ {{ count: 1, kind: KIND_CPU }} ]
            parameters {{ key: "work_ms" value: {{ string_value: "{work_ms:g}" }} }}
            """
        )
    )
    return repository


class TritonServer:
    def __init__(
        self,
        model_repository: Path,
        *,
        startup_timeout_s: float = 90.0,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.model_repository = model_repository
        self.http_port = processes.free_port()
        self.grpc_port = processes.free_port()
        self.metrics_port = processes.free_port()
        self._startup_timeout_s = startup_timeout_s
        self._extra_args = extra_args
        self._shm_prefix = f"gpufleet-triton-{uuid.uuid4().hex[:8]}-"
        self._workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def metrics_address(self) -> str:
        """host:port of /metrics (a Prometheus scrape target)."""
        return f"127.0.0.1:{self.metrics_port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> TritonServer:
        self._workdir = Path(tempfile.mkdtemp(prefix="gpufleet-triton-"))
        backends = backends_dir(self._workdir)
        log = (self._workdir / "tritonserver.log").open("ab")
        self._process = subprocess.Popen(
            [
                str(bundled_tritonserver()),
                f"--model-repository={self.model_repository}",
                f"--backend-directory={backends}",
                f"--backend-config=python,shm-region-prefix-name={self._shm_prefix}",
                "--http-address=127.0.0.1",
                f"--http-port={self.http_port}",
                "--grpc-address=127.0.0.1",
                f"--grpc-port={self.grpc_port}",
                "--metrics-address=127.0.0.1",
                f"--metrics-port={self.metrics_port}",
                "--metrics-config=summary_latencies=true",
                "--allow-gpu-metrics=false",
                "--exit-timeout-secs=5",
                *self._extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=server_env(dict(os.environ)),
        )
        log.close()
        self._wait_ready()
        return self

    def _log_path(self) -> Path | None:
        return None if self._workdir is None else self._workdir / "tritonserver.log"

    def _wait_ready(self) -> None:
        try:
            processes.wait_until_healthy(
                self._process,
                f"http://{self.http_url}/v2/health/ready",
                name="tritonserver",
                timeout_s=self._startup_timeout_s,
                log=self._log_path(),
                poll_s=0.2,
            )
        except (RuntimeError, TimeoutError):
            self.stop()
            raise

    def log(self) -> str:
        return processes.tail(self._log_path())

    def stop(self) -> None:
        """SIGINT (Triton's graceful shutdown), then SIGKILL if it hangs; clean up."""
        process, self._process = self._process, None
        processes.stop(process, signal.SIGINT, timeout_s=20)
        for leftover in Path("/dev/shm").glob(f"{self._shm_prefix}*"):
            leftover.unlink(missing_ok=True)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> TritonServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
