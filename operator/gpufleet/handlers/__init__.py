"""Thin kopf handlers. Importing this package registers them with kopf."""

from gpufleet.handlers import autoscale, children, lifecycle, modeldeployment, pods

__all__ = ["autoscale", "children", "lifecycle", "modeldeployment", "pods"]
