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
# What the node must leave as it found it (REALNODE.md §9): links, routes, firewall rules,
# kernel tunables, mounts, the pods' cgroups and the state directories a node would use.
host_state() {
  ip -o link | awk -F': ' '{print "link " $2}' | sed 's/@.*//'
  ip route | sed 's/^/route /'
  iptables-save 2>/dev/null | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//; s/^/iptables /'
  ip6tables-save 2>/dev/null | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//; s/^/ip6tables /'
  for f in net/ipv4/ip_forward vm/overcommit_memory kernel/panic kernel/panic_on_oops net/netfilter/nf_conntrack_max; do
    [[ -e "/proc/sys/${f}" ]] && echo "sysctl ${f}=$(<"/proc/sys/${f}")"
  done
  findmnt -rn -o TARGET | sort | sed 's/^/mount /'
  ls -d /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/splice-node /sys/fs/cgroup/splice-node 2>/dev/null | sed 's/^/cgroup /'
  for d in /var/lib/kubelet /var/lib/cni /var/lib/containerd /var/lib/containers /run/containerd /etc/cni /run/runc \
    /var/log/containers /var/log/pods /usr/libexec/kubernetes; do
    [[ -e "${d}" ]] && echo "path ${d}"
  done
  # Processes: anything still naming the node's directory or its link's address.
  pgrep -af "${SPLICE_NODE_DIR}|${SPLICE_E2E_DIR}|198\.19\.254\." | grep -v pgrep | sed 's/^[0-9]* /process /'
  true
}

cleanup() {
  # A node left by an interrupted run is found by its state; the control plane's after it.
  if [[ -f "${SPLICE_E2E_DIR}/state.env" ]]; then
    eval "$(bash "${here}/../e2e/cluster.sh" env)" || true
  fi
  bash "${here}/node.sh" stop >/dev/null 2>&1 || true
  bash "${here}/../e2e/cluster.sh" stop >/dev/null 2>&1 || true
}
cleanup
before="$(host_state)"
finish() {
  local code=$?
  # A failed run keeps the node's logs (containerd, kubelet, every pod's) for a look.
  ((code == 0)) || export SPLICE_NODE_KEEP_LOGS="${SPLICE_NODE_DIR}-logs"
  cleanup
  local after
  after="$(host_state)"
  if [[ "${after}" != "${before}" ]]; then
    echo "the node left the host changed (- before, + after):" >&2
    diff <(echo "${before}") <(echo "${after}") >&2 || true
    code=1
  else
    echo "host as found: links, routes, iptables, sysctls, mounts, cgroups unchanged" >&2
  fi
  exit "${code}"
}
trap finish EXIT

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

# --exec CMD…: run CMD in this environment (the node up, splice installed, the env of
# cluster.sh and node.sh exported) instead of the tests; the benchmark's burst through
# the splice Service does (bench/cluster/node-burst.ts).
if [[ "${1:-}" == --exec ]]; then
  shift
  cd "${repo}"
  code=0
  "$@" || code=$?
  exit "${code}"
fi
files=() opts=()
for a in "$@"; do
  if [[ "${a}" == -* || ${#opts[@]} -gt 0 && "${opts[-1]}" == --test-name-pattern ]]; then opts+=("${a}")
  else files+=("dist/test/node/${a%.test.js}.test.js"); fi
done
cd "${repo}"
# Named files or node --test options: just those, one after another.
if ((${#files[@]} + ${#opts[@]} > 0)); then
  ((${#files[@]} > 0)) || files=(dist/test/node)
  node --test --test-concurrency=1 "${opts[@]}" "${files[@]}"
  exit
fi
# Every scenario. Rotation (5) mostly waits for renewals, three minutes of them: it runs
# beside the others, which are then admitted and started while splice restarts for its
# config (60 s certificates, kept to the end) and while every identity renews each 40 s.
SPLICE_NODE_RESTORE_CONFIG=0 node --test "${opts[@]}" dist/test/node/rotation.test.js >"${SPLICE_NODE_DIR}/rotation.tap" 2>&1 &
rotation=$!
rest=()
for f in dist/test/node/*.test.js; do [[ "${f}" == */rotation.test.js ]] || rest+=("${f}"); done
code=0
node --test --test-concurrency=1 "${opts[@]}" "${rest[@]}" || code=$?
wait "${rotation}" || code=$?
cat "${SPLICE_NODE_DIR}/rotation.tap"
exit "${code}"
