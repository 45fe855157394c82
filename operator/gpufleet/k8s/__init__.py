"""The one place that talks to the Kubernetes API (besides kopf's own watching)."""
