# gpufleet-operator: the operator (`gpufleet run`), nothing else -- no dev tools, no test rig.
# Build from the repository root (the chart's default image is this one, tag = appVersion):
#   docker build -t ghcr.io/gpufleet/gpufleet-operator:0.1.0 .
#   make image          # the same Dockerfile with buildah, without a daemon (docs/install.md)
# Runs as UID/GID 65532 (the chart's securityContext) on a read-only root filesystem: Python
# writes no bytecode at run time, and the only writable path it needs is /tmp (the chart
# mounts an emptyDir there). The entrypoint is exec-form: no shell is needed at run time.
# No HEALTHCHECK on purpose: Kubernetes probes kopf's liveness endpoint (--liveness).

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
# The wheel first, then exactly what it declares: no extras (no torch, no sim), no dev tools.
# `python3`, not `python`/`pip`: the same recipe builds on Debian's own python3 (make image).
RUN python3 -m venv /opt/gpufleet \
    && /opt/gpufleet/bin/pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/gpufleet/bin/pip install /wheels/gpufleet-*.whl \
    && /opt/gpufleet/bin/python -m compileall -q /opt/gpufleet/lib

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/gpufleet/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/gpufleet /opt/gpufleet
# A passwd entry for the UID: kopf names its peering identity after the user (getpwuid).
RUN useradd --uid 65532 --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin gpufleet
USER 65532:65532
# kopf's liveness probe, the operator's own /metrics (the chart's ports.health / ports.metrics).
EXPOSE 8080 9090
ENTRYPOINT ["/opt/gpufleet/bin/gpufleet"]
CMD ["run", "--liveness=http://0.0.0.0:8080/healthz", "--metrics-port=9090"]
