#!/usr/bin/env bash
# npm run test:e2e: start the real control plane (cluster.sh, building it on first use),
# run every end-to-end test file against it one after another, and always stop it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "${here}/../.." && pwd)"

# The cluster is built with Go and given certificates made with openssl.
command -v go >/dev/null 2>&1 || { echo "the end-to-end tests need Go (1.26+) to build the control plane" >&2; exit 1; }
if ! command -v openssl >/dev/null 2>&1; then
  [[ $(id -u) -eq 0 ]] || { echo "the end-to-end tests need openssl: apt-get install -y openssl" >&2; exit 1; }
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssl >&2
fi

bash "${here}/cluster.sh" stop >/dev/null 2>&1 || true
trap 'bash "${here}/cluster.sh" stop >/dev/null 2>&1 || true' EXIT
# Progress and timings of the build and start go to stderr; the env lines are not needed here.
bash "${here}/cluster.sh" start >/dev/null
eval "$(bash "${here}/cluster.sh" env)"

# helm, for the chart (charts/splice): built once, cached.
SPLICE_HELM="$(bash "${here}/build-helm.sh" | tail -n1)"
export SPLICE_HELM

cd "${repo}"
node --test --test-concurrency=1 dist/test/e2e
