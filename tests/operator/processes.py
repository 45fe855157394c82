"""The operator as its own process (``gpufleet run``), with kopf peering on, for tests.

In-process runs (tests.support.operator) are standalone; peering and the exact set of
API requests need a real ``gpufleet run``, as the chart starts it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gpufleet_devtools.apiserver.server import EmulatedApiServer

CRD_FILE = Path(__file__).resolve().parents[2] / "crds" / "modeldeployments.gpufleet.io.yaml"


def peering_crd(kind: str, plural: str, scope: str) -> dict[str, Any]:
    """kopf's peering CRD (as in kopf's peering.yaml)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.kopf.dev"},
        "spec": {
            "group": "kopf.dev",
            "scope": scope,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


PEERING_NAME = "gpufleet"
"""gpufleet's own peering object (``GPUFLEET_PEERING_NAME``'s default)."""


def peering_apiserver() -> EmulatedApiServer:
    """The emulator with gpufleet's CRD, kopf's peering CRDs and the peering objects
    (cluster-wide, and in the ``default`` namespace): gpufleet's, and kopf's ``default``,
    which every other kopf-based operator peers through."""
    crds: list[Path | dict[str, Any]] = [
        CRD_FILE,
        peering_crd("ClusterKopfPeering", "clusterkopfpeerings", "Cluster"),
        peering_crd("KopfPeering", "kopfpeerings", "Namespaced"),
    ]
    server = EmulatedApiServer(crds=crds)
    for name in (PEERING_NAME, "default"):
        metadata = {"name": name}
        server.cluster.create(
            server.resource_type("kopf.dev/v1/clusterkopfpeerings"),
            None,
            {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": metadata},
        )
        server.cluster.create(
            server.resource_type("kopf.dev/v1/kopfpeerings"),
            "default",
            {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": dict(metadata)},
        )
    return server


class OperatorProcess:
    """``gpufleet run`` in its own process, its log in a file; autoscaling off."""

    def __init__(
        self,
        kubeconfig: Path,
        log: Path,
        *,
        priority: int = 0,
        namespaces: Iterable[str] = (),
        args: Iterable[str] = (),
    ) -> None:
        self.log = log
        env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "GPUFLEET_AUTOSCALING": "0",
            "GPUFLEET_PEERING_PRIORITY": str(priority),
        }
        command = [sys.executable, "-m", "gpufleet", "run", "--verbose"]
        command += [f"--namespace={namespace}" for namespace in namespaces]
        command += args
        self._file = log.open("wb")
        self.process = subprocess.Popen(
            command, env=env, stdout=self._file, stderr=subprocess.STDOUT
        )

    def said(self, text: str) -> bool:
        return text in self.log.read_text(errors="replace")

    def stop(self) -> None:
        """A clean exit (SIGTERM, as the kubelet sends): kopf removes its keep-alive."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._file.close()
