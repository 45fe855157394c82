"""A Triton ensemble or BLS model gets the models it runs (``model.composingModels``).

Triton runs with model control off and is given only the model's own directory of the
repository (it would load every model it finds). The models an ensemble composes reach
the server beside it, each by the same means as the model's own directory, for every
kind of repository; nobody who does not list any gets a different Deployment.
The real-server tests lay the repository out as the built Deployment's mounts and init
container do (the local fleet's kubelet translation) and start the bundled
``tritonserver`` with the Deployment's own command line.
"""

from __future__ import annotations

import http.server
import json
import os
import shlex
import signal
import subprocess
import sys
import tarfile
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest

from gpufleet.domain.manifests.deployment import build_deployment
from gpufleet.domain.manifests.identity import Owner
from gpufleet.domain.spec import parse_spec
from gpufleet_devtools import processes
from gpufleet_devtools.local.initplan import plan_init_containers
from gpufleet_devtools.local.podplan import Ports, plan_process
from gpufleet_devtools.local.triton import remove_shm
from tests.operator.specs import minimal_spec

OWNER = Owner("llm", "ml", "7d5c1d3e-0000-4000-8000-000000000001")
STEPS = ["preprocessing", "tensorrt_llm", "postprocessing"]


def _pod(model: dict[str, Any], runtime: dict[str, Any] | None = None) -> dict[str, Any]:
    spec = parse_spec(minimal_spec(model=model, runtime=runtime or {"type": "triton"}))
    pod: dict[str, Any] = build_deployment(OWNER, spec, 1)["spec"]["template"]["spec"]
    return pod


def _model_mounts(pod: dict[str, Any]) -> list[tuple[str, str | None]]:
    server = pod["containers"][0]
    return [
        (m["mountPath"], m.get("subPath"))
        for m in server["volumeMounts"]
        if m["name"] == "model-repository"
    ]


def _syncs(pod: dict[str, Any]) -> list[list[str]]:
    """What the init container syncs: each sync command's words."""
    (init,) = pod["initContainers"]
    command = init["command"]
    if command[:2] != ["/bin/sh", "-c"]:
        return [command]
    script = command[2].removeprefix("set -e; ")
    return [shlex.split(sync) for sync in script.split("; ")]


# (case, model, mounts of the repository volume: (mountPath, subPath), what is synced:
# (uri, target) each, None for an archive)
LAYOUTS = [
    (
        "a claim",
        {"name": "ensemble", "repository": "pvc://engines/trtllm/llama"},
        [(f"/models/{m}", f"trtllm/llama/{m}") for m in ["ensemble", *STEPS]],
        [],
    ),
    (
        "a claim's root",
        {"name": "ensemble", "repository": "pvc://engines"},
        [(f"/models/{m}", m) for m in ["ensemble", *STEPS]],
        [],
    ),
    (
        "a bucket",
        {"name": "ensemble", "repository": "s3://b/trtllm/"},
        [("/models", None)],  # the emptyDir holds only what was fetched
        [(f"s3://b/trtllm/{m}", f"/models/{m}") for m in ["ensemble", *STEPS]],
    ),
    (
        "a bucket, cached on a claim",
        {"name": "ensemble", "repository": "gs://b/trtllm", "cache": {"claimName": "c"}},
        [(f"/models/{m}", f"llm/{m}") for m in ["ensemble", *STEPS]],
        [(f"gs://b/trtllm/{m}", f"/models/llm/{m}") for m in ["ensemble", *STEPS]],
    ),
    (
        "an archive",
        {"name": "ensemble", "repository": "https://h/repo.tar.gz"},
        [(f"/models/{m}", m) for m in ["ensemble", *STEPS]],
        None,
    ),
    (
        "an archive, cached on a claim",
        {"name": "ensemble", "repository": "http://h/repo.tar.gz", "cache": {"claimName": "c"}},
        [(f"/models/{m}", f"llm/{m}") for m in ["ensemble", *STEPS]],
        None,
    ),
]


@pytest.mark.parametrize(("case", "model", "mounts", "syncs"), LAYOUTS)
def test_each_composing_model_reaches_the_server_as_the_model_does(
    case: str,
    model: dict[str, Any],
    mounts: list[tuple[str, str | None]],
    syncs: list[tuple[str, str]] | None,
) -> None:
    pod = _pod({**model, "composingModels": STEPS})
    assert _model_mounts(pod) == mounts, case
    if syncs is None:  # the archive is unpacked whole, as for one model
        assert pod["initContainers"] == _pod(model)["initContainers"], case
    elif syncs:
        tool = ["aws", "s3", "sync"] if syncs[0][0].startswith("s3") else ["gcloud", "storage"]
        fetched = _syncs(pod)
        assert [tuple(words[-2:]) for words in fetched] == syncs, case
        assert all(words[: len(tool)] == tool for words in fetched), case
    else:
        assert pod["initContainers"] == [], case
    # The server is still told to load what it finds, and nothing can load more.
    assert "--model-control-mode=none" in pod["containers"][0]["command"], case


@pytest.mark.parametrize(("case", "model"), [(case, model) for case, model, _, _ in LAYOUTS])
def test_listing_none_changes_nothing(case: str, model: dict[str, Any]) -> None:
    assert _pod({**model, "composingModels": []}) == _pod(model), case


AWKWARD_REPOSITORY = 's3://b/it\'s a $HOME; `rm -rf x` "q"/'


def test_several_syncs_run_in_order_each_word_quoted_and_stop_at_a_failure(
    tmp_path: Path,
) -> None:
    """The shell that runs the syncs takes a bucket path with any characters as one word,
    and a failed sync fails the init container (the pod does not start on a part)."""
    fake = tmp_path / "bin"
    fake.mkdir()
    log = tmp_path / "calls.jsonl"
    (fake / "aws").write_text(
        dedent(
            f"""\
            #!{sys.executable}
            import json, sys
            with open({str(log)!r}, "a") as out:
                out.write(json.dumps(sys.argv[1:]) + "\\n")
            sys.exit(1 if sys.argv[-1].endswith("/fail") else 0)
            """
        )
    )
    (fake / "aws").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "HOME": str(tmp_path)}

    def run(steps: list[str]) -> int:
        model = {"name": "ensemble", "repository": AWKWARD_REPOSITORY, "composingModels": steps}
        (init,) = _pod(model)["initContainers"]
        return subprocess.run(init["command"], env=env, check=False, timeout=30).returncode

    assert run(["pre", "post"]) == 0
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    flags = ["s3", "sync", "--only-show-errors", "--no-progress"]
    assert calls == [
        [*flags, f"{AWKWARD_REPOSITORY.rstrip('/')}/{m}", f"/models/{m}"]
        for m in ["ensemble", "pre", "post"]
    ]
    log.unlink()
    assert run(["fail", "post"]) != 0
    assert [call[-1] for call in map(json.loads, log.read_text().splitlines())] == [
        "/models/ensemble",
        "/models/fail",
    ]


def test_one_model_is_still_synced_by_the_tool_itself() -> None:
    """No shell for one model: the command the golden files hold."""
    (init,) = _pod({"name": "m", "repository": AWKWARD_REPOSITORY})["initContainers"]
    assert init["command"] == [
        "aws", "s3", "sync", "--only-show-errors", "--no-progress",
        f"{AWKWARD_REPOSITORY.rstrip('/')}/m", "/models/m",
    ]  # fmt: skip


# --- The real server --------------------------------------------------------------------

_STEP_PY = """
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy()
            y = ({expression}).astype(np.float32)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT", y)]))
        return responses
"""

_IO = """\
max_batch_size: 8
input [ { name: "INPUT" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "OUTPUT" data_type: TYPE_FP32 dims: [ 4 ] } ]
"""


def _step_config(name: str) -> str:
    return f'name: "{name}"\nbackend: "python"\n{_IO}'


def _ensemble_config() -> str:
    def step(model: str, source: str, target: str) -> str:
        return (
            f'{{ model_name: "{model}" model_version: -1 '
            f'input_map {{ key: "INPUT" value: "{source}" }} '
            f'output_map {{ key: "OUTPUT" value: "{target}" }} }}'
        )

    steps = ", ".join([step("add_one", "INPUT", "plus_one"), step("double", "plus_one", "OUTPUT")])
    scheduling = f"ensemble_scheduling {{ step [ {steps} ] }}\n"
    return f'name: "ensemble"\nplatform: "ensemble"\n{_IO}{scheduling}'


def write_ensemble_repository(repository: Path) -> Path:
    """``ensemble`` = ``double(add_one(x))``, python-backend steps, and beside them a model
    Triton cannot load (``unrelated``): a shared repository's other models, which the
    server must never see."""
    for name, expression in (("add_one", "x + 1"), ("double", "x * 2")):
        (repository / name / "1").mkdir(parents=True)
        (repository / name / "config.pbtxt").write_text(_step_config(name))
        (repository / name / "1" / "model.py").write_text(_STEP_PY.format(expression=expression))
    (repository / "ensemble" / "1").mkdir(parents=True)
    (repository / "ensemble" / "config.pbtxt").write_text(_ensemble_config())
    (repository / "unrelated" / "1").mkdir(parents=True)
    (repository / "unrelated" / "config.pbtxt").write_text("max_batch_size: oops")
    return repository


class _Pod:
    """The built Deployment's pod on this machine: its init containers, then its server."""

    def __init__(self, template: dict[str, Any], root: Path) -> None:
        self.template, self.root = template, root
        self.volumes, self.runtime = root / "volumes", root / "runtime"
        self.process: subprocess.Popen[bytes] | None = None
        self.shm: str | None = None
        self.log = root / "tritonserver.log"

    def start(self) -> _Pod:
        pod_root = self.runtime / "pods" / "p1"
        for init in plan_init_containers(self.template, self.volumes, pod_root, Ports(1, 2, 3)):
            subprocess.run(init.process.argv, env=init.process.env, check=True, timeout=60)
        plan = plan_process(
            self.template, self.volumes, processes.free_port, pod="p1", runtime_dir=self.runtime
        )
        assert "--model-control-mode=none" in plan.argv
        self.shm, self.http = plan.shm_prefix, plan.ports.http
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                plan.argv, env=plan.env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def wait_ready(self, timeout_s: float = 60) -> None:
        processes.wait_until_healthy(
            self.process,
            f"http://127.0.0.1:{self.http}/v2/health/ready",
            name="tritonserver",
            timeout_s=timeout_s,
            log=self.log,
            poll_s=0.2,
        )

    def infer(self, model: str, values: list[float]) -> list[float]:
        body = {"inputs": [{"name": "INPUT", "shape": [1, 4], "datatype": "FP32", "data": values}]}
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http}/v2/models/{model}/infer",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return [float(v) for v in json.load(response)["outputs"][0]["data"]]

    def stop(self) -> None:
        processes.stop(self.process, signal.SIGINT, timeout_s=20)
        if self.shm:
            remove_shm(self.shm)


@pytest.fixture
def pods() -> Iterator[list[_Pod]]:
    started: list[_Pod] = []
    yield started
    for pod in started:
        pod.stop()


def _template(model: dict[str, Any]) -> dict[str, Any]:
    spec = parse_spec(minimal_spec(model=model, resources={"gpus": 0, "gpuType": "cpu"}))
    template: dict[str, Any] = build_deployment(OWNER, spec, 1)["spec"]["template"]
    return template


@pytest.fixture
def archive_url(tmp_path: Path) -> Iterator[str]:
    """The repository as a .tar.gz on a local HTTP server."""
    served = tmp_path / "served"
    served.mkdir()
    repository = write_ensemble_repository(tmp_path / "archive-src")
    with tarfile.open(served / "repo.tar.gz", "w:gz") as tar:
        for entry in sorted(repository.iterdir()):
            tar.add(entry, arcname=entry.name)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/repo.tar.gz"
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake_s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``aws s3 sync s3://bucket/<key> <dir>`` copies from a local folder standing in for
    the bucket; returns the repository's URI."""
    bucket = tmp_path / "bucket"
    write_ensemble_repository(bucket / "trtllm")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "aws").write_text(
        dedent(
            f"""\
            #!{sys.executable}
            import shutil, sys
            source, target = sys.argv[-2:]
            key = source.removeprefix("s3://bucket/")
            shutil.copytree({str(bucket)!r} + "/" + key, target, dirs_exist_ok=True)
            """
        )
    )
    (fake / "aws").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    return "s3://bucket/trtllm/"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_triton_loads_an_ensemble_only_with_its_composing_models(
    tmp_path: Path, pods: list[_Pod]
) -> None:
    """A claim: without the steps Triton (model control off) cannot load the ensemble and
    never becomes ready; with them listed it serves it, and the repository's other
    models stay unseen (``unrelated`` would fail the start)."""
    model = {"name": "ensemble", "repository": "pvc://engines/trtllm"}
    alone = _Pod(_template(model), tmp_path / "alone")
    write_ensemble_repository(alone.volumes / "engines" / "trtllm")
    pods.append(alone.start())
    with pytest.raises(RuntimeError, match="exited"):
        alone.wait_ready()
    assert "add_one" in alone.log.read_text()

    listed = _Pod(_template({**model, "composingModels": ["add_one", "double"]}), tmp_path / "ok")
    write_ensemble_repository(listed.volumes / "engines" / "trtllm")
    pods.append(listed.start())
    listed.wait_ready()
    assert listed.infer("ensemble", [1, 2, 3, 4]) == [4, 6, 8, 10]


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("source", ["bucket", "bucket cached on a claim", "archive"])
def test_triton_serves_an_ensemble_fetched_by_the_init_container(
    tmp_path: Path, pods: list[_Pod], request: pytest.FixtureRequest, source: str
) -> None:
    if source == "archive":
        model = {"name": "ensemble", "repository": request.getfixturevalue("archive_url")}
    else:
        model = {"name": "ensemble", "repository": request.getfixturevalue("fake_s3")}
        if source == "bucket cached on a claim":
            model["cache"] = {"claimName": "engine-cache"}
    pod = _Pod(_template({**model, "composingModels": ["add_one", "double"]}), tmp_path / "pod")
    pods.append(pod.start())
    pod.wait_ready()
    assert pod.infer("ensemble", [0, 1, 2, 3]) == [2, 4, 6, 8]
