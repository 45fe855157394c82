"""Autoscalers the simulator runs: gpufleet's own policy and the peers it must beat."""
