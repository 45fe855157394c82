"""Pure domain code: no kopf, no Kubernetes client, no Prometheus client, no I/O."""
