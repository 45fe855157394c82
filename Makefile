# gpufleet -- `make help` lists every target.
# Every target bootstraps what it needs: the venv (from Debian's /usr/bin/python3, which
# Triton's Python backend links against) and, when run as root, Debian's prometheus.

SHELL := /bin/bash
.DEFAULT_GOAL := help

SYSTEM_PYTHON ?= /usr/bin/python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help
help: ## Show this help: every target and what it does
	@awk 'BEGIN {FS = ":.*## "; printf "gpufleet make targets:\n"} /^[a-zA-Z0-9_.-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml inference-image/pyproject.toml devtools/pyproject.toml
	@test -x $(SYSTEM_PYTHON) || { echo "need $(SYSTEM_PYTHON) (Debian python3 with venv)"; exit 1; }
	@test -d $(VENV) || $(SYSTEM_PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first and pinned: 2.13.0 resolves to the local CPU wheel, anything else pulls GBs of CUDA.
	$(PIP) install -q torch==2.13.0
	# The operator with its user extra, the torch runtime (inference-image/: its own
	# distribution and image), the dev rig (devtools/: API emulator, local fleet) and the
	# dev-only tools (pyproject's dependency group `dev`: pytest, mypy, ruff, ...).
	$(PIP) install -q -e '.[sim]' -e inference-image -e devtools --group dev
	@touch $(STAMP)

.PHONY: venv
venv: $(STAMP) ## Create .venv from /usr/bin/python3 and install gpufleet with all extras

.PHONY: system-deps
system-deps: ## Install Debian's prometheus, buildah, umoci, debootstrap, wget when missing (root; tests skip without)
	@missing=""; \
	for tool in prometheus buildah umoci debootstrap wget; do \
	  command -v $$tool >/dev/null 2>&1 || [ -x /usr/sbin/$$tool ] || missing="$$missing $$tool"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "warning: could not install$$missing; tests that need them will skip"; \
	    systemctl disable --now prometheus >/dev/null 2>&1 || true; \
	  else echo "note: not root,$$missing not installed; tests that need them will skip"; fi; \
	fi

.PHONY: lint
lint: $(STAMP) ## ruff: lint and format check; hadolint: the Dockerfiles
	$(VENV)/bin/hadolint Dockerfile inference-image/Dockerfile
	$(VENV)/bin/ruff check operator inference-image devtools tests benchmarks charts/gpufleet/ci
	$(VENV)/bin/ruff format --check operator inference-image devtools tests benchmarks charts/gpufleet/ci

.PHONY: format
format: $(STAMP) ## ruff: fix what can be fixed and format
	$(VENV)/bin/ruff check --fix operator inference-image devtools tests benchmarks charts/gpufleet/ci
	$(VENV)/bin/ruff format operator inference-image devtools tests benchmarks charts/gpufleet/ci

.PHONY: typecheck
typecheck: $(STAMP) ## mypy --strict on the operator and the torch runtime
	$(VENV)/bin/mypy

.PHONY: importlint
importlint: $(STAMP) ## import-linter: the domain imports no kopf/kubernetes/prometheus client
	$(VENV)/bin/lint-imports

.PHONY: check
check: lint typecheck importlint ## All static checks

.PHONY: crds
crds: $(STAMP) ## Regenerate crds/ (and the chart's copy) from the pydantic models
	$(PY) -m gpufleet crds -o crds/modeldeployments.gpufleet.io.yaml
	@if [ -x charts/gpufleet/ci/sync-crds.sh ]; then charts/gpufleet/ci/sync-crds.sh; fi

.PHONY: docs-values
docs-values: $(STAMP) ## Regenerate docs/configuration.md from the chart's values.schema.json
	$(PY) charts/gpufleet/ci/values_doc.py

.PHONY: chart-test
chart-test: $(STAMP) ## Render, lint and validate the Helm chart (no helm binary needed)
	$(VENV)/bin/pytest tests/chart

.PHONY: golden-update
golden-update: $(STAMP) ## Rewrite golden files (manifests, chart) after an intended change; review the diff
	GPUFLEET_UPDATE_GOLDEN=1 $(VENV)/bin/pytest tests/operator/test_manifests_golden.py tests/chart/test_golden.py

.PHONY: test
test: $(STAMP) system-deps check ## Static checks, then every test (real Prometheus/Triton/torch where they exist)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

.PHONY: test-fast
test-fast: $(STAMP) ## Tests that start no real servers
	$(VENV)/bin/pytest -m 'not slow' $(PYTEST_ARGS)

DEMO_ARGS ?=

.PHONY: demo
demo: $(STAMP) system-deps ## Run the autoscaling demo on the embedded local fleet (torch runtime; DEMO_ARGS=...)
	$(VENV)/bin/gpufleet local demo $(DEMO_ARGS)

.PHONY: demo-triton
demo-triton: $(STAMP) system-deps ## The same demo with Triton (the bundled tritonserver) serving the model
	$(VENV)/bin/gpufleet local demo --runtime triton $(DEMO_ARGS)

.PHONY: demo-llm
demo-llm: $(STAMP) system-deps ## The LLM demo: streamed completions with the trace's token counts, TTFT/ITL vs targets (DEMO_ARGS=...)
	$(VENV)/bin/gpufleet local demo --runtime llm $(DEMO_ARGS)

.PHONY: bench
bench: $(STAMP) ## Simulator: policy vs baselines on the Azure trace and shapes -> docs/benchmarks/sim.md, sim-suite.md, sim-held-out.md
	$(PY) benchmarks/sim/compare.py
	$(PY) benchmarks/sim/suite.py
	$(PY) benchmarks/sim/held_out.py

.PHONY: bench-held-out
bench-held-out: $(STAMP) ## The suite's scenarios on other seeds: gpufleet and the suite-wide baseline settings -> docs/benchmarks/sim-held-out.md (~2 min; COMPARE=earlier.json)
	$(PY) benchmarks/sim/held_out.py $(if $(COMPARE),--compare $(COMPARE))

.PHONY: bench-node-loss
bench-node-loss: $(STAMP) ## Simulator: a GPU node lost under load, each autoscaler at its default -> docs/benchmarks/sim-node-loss.md (~10 s)
	$(PY) benchmarks/sim/node_loss.py

.PHONY: bench-prometheus-settings
bench-prometheus-settings: $(STAMP) ## The suite under longer scrape intervals and rate windows (15 s/60 s, 30 s/120 s) -> docs/benchmarks/sim-prometheus-settings.md (~40 s)
	$(PY) benchmarks/sim/prometheus_settings.py

.PHONY: bench-llm
bench-llm: $(STAMP) ## Simulator, LLM fleets: policy vs baselines on token-level traces -> docs/benchmarks/sim-llm.md (~3 min)
	$(PY) benchmarks/sim/llm.py

.PHONY: bench-llm-engine
bench-llm-engine: $(STAMP) ## The simulator's LLM engine vs gpufleet-server's LLM mode, one replica, one trace window -> docs/benchmarks/llm-engine-vs-sim.md (~5 min)
	$(PY) benchmarks/llm_engine_vs_sim.py

.PHONY: bench-reconcile
bench-reconcile: $(STAMP) ## 1,000 ModelDeployments on the API emulator -> docs/benchmarks/reconcile.md
	$(PY) benchmarks/reconcile/bench_reconcile.py

.PHONY: bench-apiserver
bench-apiserver: $(STAMP) ## The API emulator alone: 1,000 ModelDeployments and 3,000 children
	$(PY) -m gpufleet_devtools.apiserver.benchmark --crd crds/modeldeployments.gpufleet.io.yaml --owners 1000 --out docs/benchmarks/apiserver.json

.PHONY: bench-policy
bench-policy: $(STAMP) system-deps ## Decision time, Prometheus queries per tick, the policy in the simulator -> docs/benchmarks/policy.md
	@mkdir -p .gpufleet
	@# Exits 1 when a scenario misses the target: a result to report, not a failed run.
	-$(PY) benchmarks/policy/sim_check.py --seeds 2 --out .gpufleet/policy-sim.json
	$(PY) benchmarks/policy/run.py --sim-json .gpufleet/policy-sim.json

.PHONY: bench-runtime
bench-runtime: $(STAMP) ## Torch runtime vs Triton, and the LLM mode's tokens/s, TTFT and ITL at 1/8/32 streams -> docs/benchmarks/runtime.md
	$(PY) benchmarks/runtime/bench_runtime.py

.PHONY: bench-local-vs-sim
bench-local-vs-sim: $(STAMP) system-deps ## Local fleet vs gpufleet sim: one trace window, a measured profile -> .gpufleet/local-vs-sim/ (see docs/benchmarks/sim-vs-local.md; ~6 min)
	$(PY) benchmarks/local_vs_sim.py

.PHONY: e2e
e2e: $(STAMP) ## Opt-in kind e2e tests (needs Docker and kind; GPUFLEET_E2E=1)
	GPUFLEET_E2E=1 $(VENV)/bin/pytest -m e2e tests/e2e

IMAGE_TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)
IMAGE_DIR ?= dist/gpufleet-operator.oci

.PHONY: image
image: system-deps ## Build the operator image from ./Dockerfile with buildah, no daemon (root) -> dist/gpufleet-operator.oci
	.ci/build-image $(IMAGE_DIR) $(IMAGE_TAG)

.PHONY: clean
clean: ## Remove the venv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .gpufleet
