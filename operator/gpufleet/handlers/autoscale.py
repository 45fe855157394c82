"""The scaling loop (wired in by the autoscaler work)."""
