"""Thin kopf handlers. Importing this package registers them with kopf."""

from gpufleet.handlers import autoscale, children, lifecycle, modeldeployment

__all__ = ["autoscale", "children", "lifecycle", "modeldeployment"]
