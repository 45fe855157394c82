"""gpufleet: a Kubernetes operator that autoscales GPU inference fleets.

Layers (kept visible in the layout):

- ``gpufleet.domain``: pure code -- spec models, manifest builders, the scaling
  policy. Imports neither kopf nor a Kubernetes or Prometheus client.
- ``gpufleet.k8s``: the one place that talks to the Kubernetes API.
- ``gpufleet.metrics``: the one place that talks to Prometheus.
- ``gpufleet.handlers``: thin kopf handlers wiring the three together.
- ``gpufleet.sim``: the trace-driven simulator, running the same policy code.
"""

__version__ = "0.1.0"

GROUP = "gpufleet.io"
VERSION = "v1alpha1"
KIND = "ModelDeployment"
PLURAL = "modeldeployments"
SINGULAR = "modeldeployment"
SHORT_NAMES = ("md", "mdep")
FIELD_MANAGER = "gpufleet"
