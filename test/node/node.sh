#!/usr/bin/env bash
# A real Kubernetes node for the control plane of test/e2e/cluster.sh (started with
# SPLICE_E2E_NODE=1): containerd, kubelet and kube-proxy in a network and a mount
# namespace of their own, kube-scheduler beside the control plane.
#
#   node.sh start   start the node (binaries and images from build.sh and images.sh),
#                   wait until it is Ready, print its env
#   node.sh env     print the exports for a running node
#   node.sh stop    stop every process, remove the pods' cgroups, the link and the
#                   run directory: the host is left as it was
#
# The cluster's env (cluster.sh env) must be in the environment. Addresses, all from
# 198.19.0.0/16 (the data-plane tests use 198.18.0.0/29):
#
#   host                                   node (own netns and mount ns)
#   socat 198.19.254.1:6443 -> apiserver   containerd, kubelet 198.19.254.2:10250, kube-proxy
#   spn-host 198.19.254.1/30 ----veth----- eth0 198.19.254.2/30, default via .1
#   route 198.19.128.0/24 via .2           spbr0 198.19.128.1/24, pods 198.19.128.0/24
#                                          Services 198.19.0.0/24 (kube-proxy's DNAT)
#
# What runs where, and why each setting is what it is, is in ../shared/REALNODE.md: the
# node's mounts (/run, /var/lib, a sysfs of its netns, the kubelet's kernel tunables)
# and sysctls (ip_forward, bridge-nf-call-iptables) exist only in its namespaces.
# State lives in ${SPLICE_NODE_DIR:-/tmp/splice-node}; the last line of `start` on
# stdout is the env, the rest goes to stderr. Needs root.
set -Eeuo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
run="${SPLICE_NODE_DIR:-/tmp/splice-node}"
state="${run}/state.env"
ready_timeout=${SPLICE_NODE_READY_TIMEOUT:-120}

node_name=splice-node
host_link=spn-host
host_ip=198.19.254.1
node_ip=198.19.254.2
pod_cidr=198.19.128.0/24
pod_gateway=198.19.128.1
bridge=spbr0
dns_ip=198.19.0.10

log() { printf '%s\n' "$*" >&2; }

# A process is ours while its start time is the one recorded when we started it, so a
# recycled pid is never signalled.
start_time() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null; }
record() {
  local t
  t="$(start_time "$2")"
  [[ -n "${t}" ]] || fail_start "$1 (pid $2) exited at once"
  printf '%s=%s:%s\n' "$1" "$2" "${t}" >>"${state}"
}
ours() {
  local entry=$1 pid=${1%%:*}
  [[ -n "${pid}" && "${entry}" == *:* ]] || return 1
  [[ "$(start_time "${pid}")" == "${entry#*:}" ]]
}

stop_proc() {
  local name=$1 entry=$2 i pid=${2%%:*}
  ours "${entry}" || return 0
  kill -TERM "${pid}" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do ours "${entry}" || return 0; sleep 0.1; done
  log "${name} (pid ${pid}) ignored SIGTERM for 10s; killing it"
  kill -KILL "${pid}" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do ours "${entry}" || return 0; sleep 0.1; done
  log "${name} (pid ${pid}) is still there after SIGKILL"
}

# Runs "$@" in the node's namespaces (the holder process keeps them alive). Daemons
# are started with nsenter itself, not this function, so that $! is their pid.
in_node() { nsenter -t "${HOLDER%%:*}" --net --mount -- "$@"; }

# The pods' cgroups live under a root of the node's own (the kubelet's cgroupRoot), in
# every hierarchy, so nothing else's cgroups are ever touched. Every process in them is
# a pod's: this kills them all whatever state containerd and the kubelet are in, with
# the tree frozen first (cgroup v1's freezer) so that no pid is read, exits and is
# reused before it is signalled; cgroup v2 kills a tree in one write.
cgroup_root=splice-node
cgroup_dirs() { find /sys/fs/cgroup/*/"${cgroup_root}" /sys/fs/cgroup/"${cgroup_root}" -depth -type d 2>/dev/null || true; }
freeze() {
  local f=/sys/fs/cgroup/freezer/${cgroup_root}/freezer.state
  [[ -f "${f}" ]] && echo "$1" >"${f}" 2>/dev/null || true
}
kill_pods() {
  local i pids=""
  [[ -f /sys/fs/cgroup/${cgroup_root}/cgroup.kill ]] && { echo 1 >"/sys/fs/cgroup/${cgroup_root}/cgroup.kill"; } 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    freeze FROZEN
    pids="$(cgroup_dirs | while read -r d; do cat "${d}/cgroup.procs" 2>/dev/null; done | sort -u)"
    # shellcheck disable=SC2086
    [[ -n "${pids}" ]] && { kill -KILL ${pids} 2>/dev/null || true; }
    freeze THAWED
    [[ -n "${pids}" ]] || return 0
    sleep 0.1
  done
  log "pod processes still running after 5s: ${pids//$'\n'/ }"
}
remove_cgroups() {
  local d i
  for ((i = 0; i < 50; i++)); do
    while read -r d; do [[ -n "${d}" ]] && rmdir "${d}" 2>/dev/null || true; done < <(cgroup_dirs)
    [[ -z "$(cgroup_dirs)" ]] && return 0
    sleep 0.1
  done
  log "cgroups left behind: $(cgroup_dirs | tr '\n' ' ')"
}
# The kubelet wants its cgroupRoot to exist in every hierarchy. A new cpuset cgroup
# starts with no CPUs and no memory nodes: it gets its parent's.
make_cgroups() {
  local d
  if [[ "$(stat -f -c %T /sys/fs/cgroup)" == cgroup2fs ]]; then
    mkdir -p "/sys/fs/cgroup/${cgroup_root}"
    return
  fi
  for d in /sys/fs/cgroup/*/; do
    [[ -f "${d}cgroup.procs" && ! -L "${d%/}" ]] || continue
    mkdir -p "${d}${cgroup_root}"
    if [[ -f "${d}cpuset.cpus" ]]; then
      cat "${d}cpuset.cpus" >"${d}${cgroup_root}/cpuset.cpus"
      cat "${d}cpuset.mems" >"${d}${cgroup_root}/cpuset.mems"
    fi
  done
}

# Every process left in the node's mount namespace (the daemons, and anything a test
# ran there with nsenter and lost track of): the namespaces go when the last one does.
kill_node_processes() {
  local holder=$1 ns p
  ns="$(readlink "/proc/${holder}/ns/mnt" 2>/dev/null)" || return 0
  for p in /proc/[0-9]*; do
    [[ "${p#/proc/}" == "${holder}" ]] && continue
    [[ "$(readlink "${p}/ns/mnt" 2>/dev/null)" == "${ns}" ]] && { kill -KILL "${p#/proc/}" 2>/dev/null || true; }
  done
  true
}

# containerd's shims outlive containerd by design; each names the node's socket.
kill_shims() {
  local pid cmd
  for pid in $(pgrep -f containerd-shim-runc-v2 || true); do
    cmd="$(tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null)" || continue
    [[ "${cmd}" == *"${run}/containerd/containerd.sock"* ]] && kill -KILL "${pid}" 2>/dev/null || true
  done
}

stop() {
  if [[ -f "${state}" ]]; then
    # shellcheck disable=SC1090
    source "${state}"
    stop_proc kube-scheduler "${SCHEDULER:-}"
    stop_proc kube-proxy "${PROXY:-}"
    stop_proc kubelet "${KUBELET:-}"
    kill_pods
    stop_proc containerd "${CONTAINERD:-}"
    kill_shims
    ours "${HOLDER:-}" && kill_node_processes "${HOLDER%%:*}"
    stop_proc "node namespaces" "${HOLDER:-}"
    stop_proc socat "${SOCAT:-}"
  fi
  kill_pods
  remove_cgroups
  # The node's end of the link went with its netns; this takes the route too.
  ip link del "${host_link}" 2>/dev/null || true
  # A failed start or run keeps the node's logs (containerd, kubelet, the pods').
  if [[ -n "${SPLICE_NODE_KEEP_LOGS:-}" && -d "${run}/logs" ]]; then
    rm -rf "${SPLICE_NODE_KEEP_LOGS}"
    mkdir -p "${SPLICE_NODE_KEEP_LOGS}"
    cp -r "${run}/logs" "${run}/pod-logs" "${SPLICE_NODE_KEEP_LOGS}/" 2>/dev/null || true
    log "the node's logs are kept in ${SPLICE_NODE_KEEP_LOGS}"
  fi
  rm -rf "${run}"
}

print_env() {
  [[ -f "${state}" ]] || { log "no node in ${run}; run: $0 start"; return 1; }
  # shellcheck disable=SC1090
  source "${state}"
  cat <<EOF
export SPLICE_NODE_NAME=${node_name}
export SPLICE_NODE_IP=${node_ip}
export SPLICE_NODE_HOST_IP=${host_ip}
export SPLICE_NODE_POD_CIDR=${pod_cidr}
export SPLICE_NODE_DIR=${run}
export SPLICE_NODE_HOLDER_PID=${HOLDER%%:*}
export SPLICE_NODE_CTR="${CTR_BIN} --address ${run}/containerd/containerd.sock --namespace k8s.io"
EOF
}

fail_start() {
  trap - ERR INT TERM
  log "node did not start: $*"
  local f
  for f in "${run}"/logs/*.log; do
    [[ -f "${f}" ]] || continue
    log "--- last lines of ${f##*/}"
    tail -n 25 "${f}" >&2
  done
  SPLICE_NODE_KEEP_LOGS="${SPLICE_NODE_KEEP_LOGS:-${run}-logs}" stop
  exit 1
}

# A client certificate signed by the cluster CA (CN the user, O the group), or with
# $4 a serving certificate for that IP.
cert() {
  local name=$1 cn=$2 o=$3 ip=${4:-} pki="${run}/pki" ext
  ext='keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n'
  [[ -n "${ip}" ]] && ext="keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:${ip},DNS:${node_name}\n"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "${pki}/${name}.key" -out "${pki}/${name}.csr" -subj "/O=${o}/CN=${cn}" 2>/dev/null
  # shellcheck disable=SC2059
  openssl x509 -req -in "${pki}/${name}.csr" -CA "${SPLICE_E2E_CA_CERT}" -CAkey "${SPLICE_E2E_CA_KEY}" \
    -CAcreateserial -CAserial "${pki}/ca.srl" -days 7 -sha256 -out "${pki}/${name}.crt" \
    -extfile <(printf "${ext}") 2>/dev/null
  chmod 600 "${pki}/${name}.key"
}

# A kubeconfig reaching the API server where the node sees it: socat on the host end
# of the link. The API server's certificate names "kubernetes", not that address.
kubeconfig() {
  local name=$1
  cat >"${run}/${name}.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: splice-e2e
  cluster:
    server: https://${host_ip}:6443
    certificate-authority: ${SPLICE_E2E_CA_CERT}
    tls-server-name: kubernetes
users:
- name: ${name}
  user:
    client-certificate: ${run}/pki/${name}.crt
    client-key: ${run}/pki/${name}.key
contexts:
- name: splice-e2e
  context: {cluster: splice-e2e, user: ${name}}
current-context: splice-e2e
EOF
}

write_configs() {
  local ctrd="${run}/containerd"
  mkdir -p "${ctrd}" "${run}/cni/net.d" "${run}/pod-logs" "${run}/sysctl" "${run}/varlib" "${run}/varlog" "${run}/volume-plugins"
  # containerd 2.x (config version 3). restrict_oom_score_adj: the machine withholds
  # CAP_SYS_RESOURCE, so runc cannot lower a score; netns_mounts_under_state_dir keeps
  # the pods' netns mounts off /var/run/netns (REALNODE.md E1, §6).
  cat >"${ctrd}/config.toml" <<EOF
version = 3
root = '${ctrd}/root'
state = '${ctrd}/state'
disabled_plugins = ['io.containerd.nri.v1.nri']

[grpc]
  address = '${ctrd}/containerd.sock'
[ttrpc]
  address = '${ctrd}/containerd.sock.ttrpc'

[plugins]
  [plugins.'io.containerd.internal.v1.opt']
    path = '${ctrd}/opt'
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = 'localhost/splice-test/pause:1'
  [plugins.'io.containerd.cri.v1.runtime']
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = '/usr/sbin/runc'
          Root = '${ctrd}/runc'
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ['/usr/lib/cni']
      conf_dir = '${run}/cni/net.d'
  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = '127.0.0.1'
EOF
  cat >"${run}/cni/net.d/10-splice-node.conflist" <<EOF
{ "cniVersion": "1.0.0", "name": "splice-node", "plugins": [
  { "type": "bridge", "bridge": "${bridge}", "isGateway": true, "ipMasq": false, "hairpinMode": true,
    "ipam": { "type": "host-local", "dataDir": "${run}/cni/ipam",
              "ranges": [[{ "subnet": "${pod_cidr}", "gateway": "${pod_gateway}" }]],
              "routes": [{ "dst": "0.0.0.0/0" }] } },
  { "type": "portmap", "capabilities": { "portMappings": true } } ] }
EOF
  # The node's own resolver, for pods with dnsPolicy Default: nothing answers there (the
  # machines have no resolver a pod may use). Cluster DNS is CoreDNS (dns.yaml).
  printf 'nameserver %s\n' "${host_ip}" >"${run}/resolv.conf"
  # The kubelet's view of three kernel tunables it insists on (protectKernelDefaults),
  # bound over /proc/sys in the node's mount namespace only (REALNODE.md E2).
  echo 1 >"${run}/sysctl/overcommit_memory"
  echo 10 >"${run}/sysctl/panic"
  echo 1 >"${run}/sysctl/panic_on_oops"

  cat >"${run}/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The machine's cgroups are v1 (hybrid, with no controllers in the unified tree).
failCgroupV1: false
cgroupDriver: cgroupfs
# The pods' cgroups under a root of the node's own, apart from anything else's kubepods.
cgroupRoot: /${cgroup_root}
# Else the kubelet makes /usr/libexec/kubernetes on the host.
volumePluginDir: ${run}/volume-plugins
protectKernelDefaults: true
address: ${node_ip}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: ${run}/pki/kubelet-serving.crt
tlsPrivateKeyFile: ${run}/pki/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ${SPLICE_E2E_CA_CERT}}
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://${ctrd}/containerd.sock
podLogsDir: ${run}/pod-logs
resolvConf: ${run}/resolv.conf
clusterDomain: cluster.local
clusterDNS: [${dns_ip}]
serializeImagePulls: false
# A test machine's disk is shared: never evict or collect images because of it.
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
maxPods: 250
# Status is reported quickly, so tests see Ready and pod changes without delay.
nodeStatusUpdateFrequency: 4s
syncFrequency: 10s
EOF

  cat >"${run}/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: ${run}/kube-proxy.kubeconfig}
mode: iptables
hostnameOverride: ${node_name}
clusterCIDR: ${pod_cidr}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Zero: leave the conntrack table size and timeouts as they are; the table size is
# host-wide (REALNODE.md §4).
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
}

# Where this machine keeps the node from running as a production node would, and what
# the node does instead; said at every start, so no difference goes unmentioned.
say_what_the_machine_forbids() {
  local bnd
  if [[ "$(stat -f -c %T /sys/fs/cgroup)" != cgroup2fs ]]; then
    log "note: cgroup v1 (no cgroup v2 controllers on this machine): the kubelet runs with failCgroupV1: false"
  fi
  bnd=$(awk '/^CapBnd/ {print $2}' /proc/self/status)
  if (( (16#${bnd} >> 24 & 1) == 0 )); then
    log "note: no CAP_SYS_RESOURCE: containerd runs with restrict_oom_score_adj, so no container's OOM score goes below the kubelet's own"
  fi
  log "note: the kubelet's kernel tunables (vm.overcommit_memory, kernel.panic, kernel.panic_on_oops) are files in the node's mount namespace; the host's are never written"
}

# Polls "$@" until it succeeds; gives up at the deadline or when the process it waits
# on has exited.
wait_for() {
  local what=$1 name=$2 entry=$3; shift 3
  while ! "$@" >/dev/null 2>&1; do
    ours "${entry}" || fail_start "${name} exited while waiting for ${what}"
    ((SECONDS < deadline)) || fail_start "timed out after ${ready_timeout}s waiting for ${what}"
    sleep 0.25
  done
}

start() {
  [[ $(id -u) -eq 0 ]] || { log "the node needs root (namespaces, mounts, cgroups)"; exit 1; }
  [[ -n "${KUBECONFIG:-}" && -n "${SPLICE_E2E_CA_CERT:-}" && -n "${SPLICE_E2E_SERVER:-}" ]] \
    || { log "start the control plane first: SPLICE_E2E_NODE=1 test/e2e/cluster.sh start, then eval its env"; exit 1; }
  if [[ -f "${state}" ]]; then
    log "stale node state in ${run}; cleaning it up"
    stop
  fi
  ip link show "${host_link}" >/dev/null 2>&1 && { log "${host_link} exists: another node runs on this machine"; exit 1; }
  # Left by a node that was not stopped: its pods' processes and cgroups go first.
  kill_pods
  remove_cgroups

  local built containerd_bin k8s_bin images
  built="$(bash "${here}/build.sh")"
  k8s_bin="$(tail -n2 <<<"${built}" | head -n1)"
  containerd_bin="$(tail -n1 <<<"${built}")"
  images="$(bash "${here}/images.sh" | tail -n1)"
  local t0=${SECONDS}
  deadline=$((SECONDS + ready_timeout))
  say_what_the_machine_forbids

  mkdir -p "${run}/logs" "${run}/pki"
  chmod 700 "${run}"
  cat >"${state}" <<EOF
CTR_BIN=${containerd_bin}/ctr
EOF
  trap 'fail_start "interrupted"' INT TERM
  trap 'fail_start "a command failed (line ${LINENO})"' ERR

  cert kubelet "system:node:${node_name}" system:nodes
  cert kubelet-serving "system:node:${node_name}" system:nodes "${node_ip}"
  cert kube-proxy system:kube-proxy system:node-proxier
  kubeconfig kubelet
  kubeconfig kube-proxy
  write_configs

  local kubectl=("${SPLICE_E2E_KUBECTL}" --request-timeout 10s)
  # The API server's kubelet client may use the kubelet API (logs, exec), nothing more.
  "${kubectl[@]}" create clusterrolebinding splice-e2e-apiserver-kubelet-client \
    --clusterrole system:kubelet-api-admin --user kube-apiserver-kubelet-client --dry-run=client -o yaml \
    | "${kubectl[@]}" apply -f - >/dev/null

  # The host end: a link, a route to the pods, and the API server on the link's address.
  ip link add "${host_link}" type veth peer name spn-node
  ip addr add "${host_ip}/30" dev "${host_link}"
  ip link set "${host_link}" up
  local port=${SPLICE_E2E_SERVER##*:}
  socat "TCP-LISTEN:6443,bind=${host_ip},reuseaddr,fork" "TCP:127.0.0.1:${port}" </dev/null >"${run}/logs/socat.log" 2>&1 &
  record SOCAT $!

  # The node's namespaces, held by a process that does nothing else.
  unshare --net --mount --propagation private --fork sleep infinity </dev/null >/dev/null 2>&1 &
  local unshare_pid=$! holder="" i
  for ((i = 0; i < 50; i++)); do holder="$(pgrep -P "${unshare_pid}" || true)"; [[ -n "${holder}" ]] && break; sleep 0.05; done
  [[ -n "${holder}" ]] || fail_start "the namespace holder did not start"
  record HOLDER "${holder}"
  # shellcheck disable=SC1090
  source "${state}"
  ip link set spn-node netns "${holder}"
  ip route add "${pod_cidr}" via "${node_ip}" dev "${host_link}"

  in_node bash -euo pipefail -c '
    run=$1 node_ip=$2 host_ip=$3
    ip link set lo up
    ip link set spn-node name eth0
    ip addr add "${node_ip}/30" dev eth0
    ip link set eth0 up
    ip route add default via "${host_ip}"
    echo 1 >/proc/sys/net/ipv4/ip_forward
    echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables
    echo 1 >/proc/sys/net/bridge/bridge-nf-call-ip6tables
    mount -t tmpfs -o mode=755 tmpfs /run
    mount --bind "${run}/varlib" /var/lib
    # The kubelet links every container log into /var/log/containers (a fixed path).
    mount --bind "${run}/varlog" /var/log
    mkdir -p "${run}/cgroup"
    mount --rbind /sys/fs/cgroup "${run}/cgroup"
    mount -t sysfs sysfs /sys
    mount --move "${run}/cgroup" /sys/fs/cgroup
    mount --bind "${run}/sysctl/overcommit_memory" /proc/sys/vm/overcommit_memory
    mount --bind "${run}/sysctl/panic" /proc/sys/kernel/panic
    mount --bind "${run}/sysctl/panic_on_oops" /proc/sys/kernel/panic_on_oops
  ' _ "${run}" "${node_ip}" "${host_ip}" || fail_start "setting up the node's namespaces failed"
  make_cgroups

  # containerd's own shim must come before any other on its PATH.
  PATH="${containerd_bin}:${PATH}" nsenter -t "${HOLDER%%:*}" --net --mount -- "${containerd_bin}/containerd" --config "${run}/containerd/config.toml" \
    </dev/null >"${run}/logs/containerd.log" 2>&1 &
  record CONTAINERD $!
  # shellcheck disable=SC1090
  source "${state}"
  local ctr=("${containerd_bin}/ctr" --address "${run}/containerd/containerd.sock" --namespace k8s.io)
  wait_for "containerd" containerd "${CONTAINERD}" in_node "${ctr[@]}" version

  local tar t=${SECONDS}
  for tar in "${images}"/*.tar; do  # one tarball per image (images.sh)
    [[ "${tar}" == */debian-bookworm-base.tar ]] && continue
    in_node "${ctr[@]}" images import "${tar}" >/dev/null 2>>"${run}/logs/import.log" \
      || fail_start "importing ${tar} failed"
  done
  log "images imported in $((SECONDS - t))s"

  nsenter -t "${HOLDER%%:*}" --net --mount -- "${k8s_bin}/kubelet" --config "${run}/kubelet.yaml" --kubeconfig "${run}/kubelet.kubeconfig" \
    --hostname-override "${node_name}" --node-ip "${node_ip}" --root-dir "${run}/varlib/kubelet" --v 1 \
    </dev/null >"${run}/logs/kubelet.log" 2>&1 &
  record KUBELET $!
  nsenter -t "${HOLDER%%:*}" --net --mount -- "${k8s_bin}/kube-proxy" --config "${run}/kube-proxy.yaml" --v 1 \
    </dev/null >"${run}/logs/kube-proxy.log" 2>&1 &
  record PROXY $!
  "${k8s_bin}/kube-scheduler" --kubeconfig "${KUBECONFIG}" --authentication-kubeconfig "${KUBECONFIG}" \
    --authorization-kubeconfig "${KUBECONFIG}" --leader-elect=false --bind-address 127.0.0.1 --secure-port 0 \
    --v 1 </dev/null >"${run}/logs/kube-scheduler.log" 2>&1 &
  record SCHEDULER $!
  # shellcheck disable=SC1090
  source "${state}"

  # The `kubernetes` Service's endpoint (the control plane runs without an endpoint
  # reconciler): the API server where pods reach it.
  "${kubectl[@]}" apply -f - >/dev/null <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kubernetes
  namespace: default
  labels:
    kubernetes.io/service-name: kubernetes
    endpointslice.kubernetes.io/managed-by: splice-test-node
addressType: IPv4
endpoints:
  - addresses: ["${host_ip}"]
    conditions: {ready: true}
ports:
  - name: https
    port: 6443
    protocol: TCP
EOF

  # `kubectl wait` fails at once while the node is not registered yet (REALNODE.md E6).
  wait_for "node ${node_name} to register" kubelet "${KUBELET}" "${kubectl[@]}" get node "${node_name}"
  wait_for "node ${node_name} to be Ready" kubelet "${KUBELET}" \
    bash -c '[[ "$("$@" get node '"${node_name}"' -o jsonpath="{.status.conditions[?(@.type==\"Ready\")].status}")" == True ]]' _ "${kubectl[@]}"
  # Cluster DNS, as a node's first pods: CoreDNS behind kube-dns (dns.yaml).
  "${kubectl[@]}" apply -f "${here}/dns.yaml" >/dev/null
  wait_for "cluster DNS (coredns in kube-system)" kubelet "${KUBELET}" "${kubectl[@]}" -n kube-system rollout status deploy/coredns --timeout=5s
  trap - ERR INT TERM
  log "node ${node_name} Ready in $((SECONDS - t0))s (logs in ${run}/logs); use it with:"
  print_env
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) print_env ;;
  *) log "usage: $0 start|stop|env"; exit 2 ;;
esac
