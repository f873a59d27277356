#!/usr/bin/env bash
# npm run test:node: the real node's scenarios, from nothing. Builds what is not cached
# (the node's binaries, containerd, the images: build.sh, images.sh), starts the control
# plane for a node (cluster.sh with SPLICE_E2E_NODE=1) and the node (node.sh), installs
# splice as production does (kubectl apply -k test/node/overlay: two replicas behind the
# splice Service), runs the scenario files one after another, and always stops
# everything, leaving the host as it found it.
#
#   npm run test:node                      every scenario
#   npm run test:node -- shutdown          only dist/test/node/shutdown.test.js
#   npm run test:node -- --test-name-pattern '^1\.'   node --test options pass through
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "${here}/../.." && pwd)"
[[ $(id -u) -eq 0 ]] || { echo "the node tests need root (namespaces, mounts, cgroups)" >&2; exit 1; }
command -v go >/dev/null 2>&1 || { echo "the node tests need Go (1.26+) to build the node" >&2; exit 1; }

export SPLICE_E2E_DIR=/tmp/splice-node-e2e SPLICE_E2E_NODE=1
export SPLICE_NODE_DIR=/tmp/splice-node
cleanup() {
  # A node left by an interrupted run is found by its state; the control plane's after it.
  if [[ -f "${SPLICE_E2E_DIR}/state.env" ]]; then
    eval "$(bash "${here}/../e2e/cluster.sh" env)" || true
  fi
  bash "${here}/node.sh" stop >/dev/null 2>&1 || true
  bash "${here}/../e2e/cluster.sh" stop >/dev/null 2>&1 || true
}
cleanup
trap cleanup EXIT

# Built before anything starts, so a cold build does not count against start timeouts.
bash "${here}/build.sh" >/dev/null
bash "${here}/images.sh" >/dev/null
bash "${here}/../e2e/cluster.sh" start >/dev/null
eval "$(bash "${here}/../e2e/cluster.sh" env)"
bash "${here}/node.sh" start >/dev/null
eval "$(bash "${here}/node.sh" env)"
kubectl="${SPLICE_E2E_KUBECTL}"
"${kubectl}" apply -k "${here}/overlay" >/dev/null
"${kubectl}" -n splice-system rollout status deploy/splice --timeout 180s >&2

files=() opts=()
for a in "$@"; do
  if [[ "${a}" == -* || ${#opts[@]} -gt 0 && "${opts[-1]}" == --test-name-pattern ]]; then opts+=("${a}")
  else files+=("dist/test/node/${a%.test.js}.test.js"); fi
done
((${#files[@]} > 0)) || files=(dist/test/node)
cd "${repo}"
node --test --test-concurrency=1 "${opts[@]}" "${files[@]}"
