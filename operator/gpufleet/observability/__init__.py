"""The operator's own telemetry: Prometheus metrics it exports about itself."""

from gpufleet.observability.metrics import OperatorMetrics

__all__ = ["OperatorMetrics"]
