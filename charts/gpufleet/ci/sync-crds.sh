#!/usr/bin/env bash
# Copy the generated CRDs (repo-root crds/) into the chart, which ships them from
# templates/crd.yaml (Helm never upgrades a chart's crds/ folder).
# tests/chart/test_crd_sync.py fails while the two differ.
set -euo pipefail
chart_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repo_root="$(cd "${chart_dir}/../.." && pwd)"
src="${repo_root}/crds/modeldeployments.gpufleet.io.yaml"
dst="${chart_dir}/files/crds/modeldeployments.gpufleet.io.yaml"
if [[ ! -f "${src}" ]]; then
  echo "error: ${src} does not exist; generate the CRD first" >&2
  exit 1
fi
mkdir -p "$(dirname "${dst}")"
cp "${src}" "${dst}"
echo "synced ${src#"${repo_root}"/} -> ${dst#"${repo_root}"/}"
