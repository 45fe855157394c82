"""Run the real operator in-process: kopf in its own thread and event loop."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import kopf
from kopf.testing import KopfRunner

import gpufleet.handlers  # noqa: F401  (registers the handlers in the registry captured below)

# The registry gpufleet's decorators registered into at import. Passed explicitly:
# `kopf run` with another registry (another test's operator) replaces kopf's default.
GPUFLEET_REGISTRY = kopf.get_default_registry()


@contextmanager
def running_operator(kubeconfig: str, **env: str) -> Iterator[KopfRunner]:
    """The operator as ``gpufleet run`` runs it, against ``kubeconfig``.

    Autoscaling is off unless ``GPUFLEET_AUTOSCALING`` is passed: these tests have
    no Prometheus, and the scaling loop has its own tests.
    """
    settings = {"KUBECONFIG": kubeconfig, "GPUFLEET_AUTOSCALING": "0", **env}
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    try:
        args = ["run", "--standalone", "--all-namespaces"]
        with KopfRunner(args, registry=GPUFLEET_REGISTRY, timeout=60) as runner:
            yield runner
        assert runner.exception is None, runner.output
        assert runner.exit_code == 0, runner.output
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
