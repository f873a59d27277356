#!/usr/bin/env bash
# A real Kubernetes control plane on loopback for the end-to-end tests:
# etcd, kube-apiserver and kube-controller-manager built by build.sh, no
# kubelet and no scheduler. That is all admission needs: the replicaset and
# job controllers create pods, the apiserver runs them through the admission
# chain (PodSecurity, ServiceAccount, our webhook), and they stay Pending.
#
#   cluster.sh start   build if needed, start, wait until ready, print env
#   cluster.sh env     print the exports for a running cluster
#   cluster.sh stop    stop every process and remove the run directory
#
# State lives in ${SPLICE_E2E_DIR:-/tmp/splice-e2e}. Everything listens on
# 127.0.0.1 only, on free ports chosen at start (SPLICE_E2E_APISERVER_PORT
# pins the apiserver's). Setting SPLICE_K8S_BIN skips build.sh.
#
# SPLICE_E2E_NODE=1 readies it for the real node of test/node/ (node.sh): a Service
# CIDR the node's kube-proxy can route (198.19.0.0/24), the controllers a node needs
# (Service endpoints, node lifecycle, pod GC), the API server's own client
# certificate for kubelets and the CA their serving certificates chain to, kubelets
# reached at their InternalIP, and webhooks called at their Service's endpoints
# (the host has no kube-proxy, only a route to the pods).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
run="${SPLICE_E2E_DIR:-/tmp/splice-e2e}"
state="${run}/state.env"
ready_timeout=${SPLICE_E2E_READY_TIMEOUT:-90}

log() { printf '%s\n' "$*" >&2; }

# A pid from the state file is ours only while its command line still names
# this run directory; a recycled pid never gets signalled.
ours() {
  local pid=$1 cmd
  [[ -n "${pid}" ]] || return 1
  cmd="$(tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null)" || return 1
  [[ "${cmd}" == *"${run}/"* ]]
}

stop_pid() {
  local name=$1 pid=$2 i
  ours "${pid}" || return 0
  kill -TERM "${pid}" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    ours "${pid}" || return 0
    sleep 0.1
  done
  log "${name} (pid ${pid}) ignored SIGTERM for 10s; killing it"
  kill -KILL "${pid}" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do ours "${pid}" || return 0; sleep 0.1; done
  log "${name} (pid ${pid}) is still there after SIGKILL"
}

stop() {
  if [[ -f "${state}" ]]; then
    # shellcheck disable=SC1090
    source "${state}"
    # Reverse start order: clients first, so nothing logs etcd errors on the way out.
    stop_pid kube-controller-manager "${KCM_PID:-}"
    stop_pid kube-apiserver "${APISERVER_PID:-}"
    stop_pid etcd "${ETCD_PID:-}"
  fi
  rm -rf "${run}"
}

print_env() {
  [[ -f "${state}" ]] || { log "no cluster in ${run}; run: $0 start"; return 1; }
  # shellcheck disable=SC1090
  source "${state}"
  cat <<EOF
export KUBECONFIG=${run}/kubeconfig
export SPLICE_E2E_KUBECTL=${BIN}/kubectl
export SPLICE_E2E_SERVER=https://127.0.0.1:${APISERVER_PORT}
export SPLICE_E2E_CA_CERT=${run}/pki/ca.crt
export SPLICE_E2E_CA_KEY=${run}/pki/ca.key
EOF
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Ports below the kernel's ephemeral range (32768+), so an outgoing
# connection cannot be holding one; 9443 and 9090 are the webhook's own.
taken_ports=" 9090 9443 "
free_port() {
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + RANDOM % 12000))
    [[ "${taken_ports}" == *" ${p} "* ]] && continue
    port_in_use "${p}" && continue
    taken_ports+="${p} "
    echo "${p}"
    return 0
  done
  log "found no free port in 20000-31999"
  return 1
}

# A client certificate signed by the cluster CA; CN is the user, O the group.
client_cert() {
  local name=$1 cn=$2 o=$3 pki="${run}/pki"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "${pki}/${name}.key" -out "${pki}/${name}.csr" \
    -subj "/O=${o}/CN=${cn}" 2>/dev/null
  openssl x509 -req -in "${pki}/${name}.csr" -CA "${pki}/ca.crt" -CAkey "${pki}/ca.key" \
    -CAcreateserial -days 7 -sha256 -out "${pki}/${name}.crt" \
    -extfile <(printf 'keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n') 2>/dev/null
}

kubeconfig() {
  local name=$1 file=$2 pki="${run}/pki"
  cat >"${file}" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: splice-e2e
  cluster:
    server: https://127.0.0.1:${APISERVER_PORT}
    certificate-authority: ${pki}/ca.crt
users:
- name: ${name}
  user:
    client-certificate: ${pki}/${name}.crt
    client-key: ${pki}/${name}.key
contexts:
- name: splice-e2e
  context:
    cluster: splice-e2e
    user: ${name}
current-context: splice-e2e
EOF
}

make_pki() {
  local pki="${run}/pki"
  mkdir -p "${pki}"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "${pki}/ca.key" -out "${pki}/ca.crt" -days 7 -subj "/CN=splice-e2e-ca" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "${pki}/apiserver.key" -out "${pki}/apiserver.csr" -subj "/CN=kube-apiserver" 2>/dev/null
  openssl x509 -req -in "${pki}/apiserver.csr" -CA "${pki}/ca.crt" -CAkey "${pki}/ca.key" \
    -CAcreateserial -days 7 -sha256 -out "${pki}/apiserver.crt" -extfile <(cat <<EOF
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:${SERVICE_CIDR%.0/*}.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
EOF
) 2>/dev/null
  # Service-account tokens are signed with this key; RSA because that is what
  # every token consumer accepts.
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "${pki}/sa.key" 2>/dev/null
  openssl pkey -in "${pki}/sa.key" -pubout -out "${pki}/sa.pub" 2>/dev/null
  client_cert admin splice-e2e-admin system:masters
  client_cert kcm system:kube-controller-manager system:kube-controller-manager
  # The API server's identity towards kubelets (logs, exec, port-forward); node.sh
  # binds it to system:kubelet-api-admin, and the kubelet asks the API server
  # whether it may (webhook authorization), as in a real cluster.
  if [[ "${NODE_MODE}" == 1 ]]; then
    client_cert kubelet-client kube-apiserver-kubelet-client kube-apiserver-kubelet-client
  fi
  kubeconfig admin "${run}/kubeconfig"
  kubeconfig kcm "${run}/kcm.kubeconfig"
  chmod 600 "${pki}"/*.key
}

fail_start() {
  log "cluster did not start: $*"
  local f
  for f in "${run}"/logs/*.log; do
    [[ -f "${f}" ]] || continue
    log "--- last lines of ${f##*/}"
    tail -n 25 "${f}" >&2
  done
  stop
  exit 1
}

# Polls "$@" every 0.25s until it succeeds, giving up when the shared
# deadline passes or the process it waits on ($2, pid $3) has exited.
wait_for() {
  local what=$1 name=$2 pid=$3; shift 3
  while ! "$@" >/dev/null 2>&1; do
    ours "${pid}" || fail_start "${name} exited while waiting for ${what}"
    ((SECONDS < deadline)) || fail_start "timed out after ${ready_timeout}s waiting for ${what}"
    sleep 0.25
  done
}

start() {
  if [[ -f "${state}" ]]; then
    # shellcheck disable=SC1090
    source "${state}"
    if ours "${APISERVER_PID:-}" && ours "${ETCD_PID:-}" && ours "${KCM_PID:-}"; then
      log "cluster already running in ${run}"
      print_env
      return 0
    fi
    log "stale state in ${run}; cleaning it up"
    stop
  fi

  BIN="${SPLICE_K8S_BIN:-$(bash "${here}/build.sh" | tail -n1)}"
  local t0=${SECONDS}
  deadline=$((SECONDS + ready_timeout))

  mkdir -p "${run}/logs" "${run}/etcd" "${run}/apiserver-certs"
  chmod 700 "${run}" "${run}/etcd"
  trap 'fail_start "interrupted"' INT TERM

  # Assigned in this shell, not in $(...), so free_port remembers what it
  # handed out and never gives the same port twice.
  if [[ -n "${SPLICE_E2E_APISERVER_PORT:-}" ]]; then
    APISERVER_PORT=${SPLICE_E2E_APISERVER_PORT}
    port_in_use "${APISERVER_PORT}" && fail_start "port ${APISERVER_PORT} (SPLICE_E2E_APISERVER_PORT) is already in use"
    taken_ports+="${APISERVER_PORT} "
  else
    free_port >"${run}/port" || fail_start "no free port"; APISERVER_PORT=$(<"${run}/port")
  fi
  free_port >"${run}/port" || fail_start "no free port"; ETCD_PORT=$(<"${run}/port")
  free_port >"${run}/port" || fail_start "no free port"; ETCD_PEER_PORT=$(<"${run}/port")
  free_port >"${run}/port" || fail_start "no free port"; KCM_PORT=$(<"${run}/port")
  rm -f "${run}/port"
  # Service IPs are only bookkeeping here (no kube-proxy), but an apiserver
  # does dial them for webhooks and APIServices that name a Service; a
  # loopback range keeps any such mistake on this machine.
  NODE_MODE=${SPLICE_E2E_NODE:-0}
  local default_cidr=127.16.0.0/24 node_flags=()
  local controllers=deployment-controller,replicaset-controller,job-controller,cronjob-controller,daemonset-controller,statefulset-controller,serviceaccount-controller,serviceaccount-token-controller,namespace-controller,garbage-collector-controller,root-ca-certificate-publisher-controller
  if [[ "${NODE_MODE}" == 1 ]]; then
    default_cidr=198.19.0.0/24
    controllers+=,endpointslice-controller,node-lifecycle-controller,pod-garbage-collector-controller
    node_flags=(
      --kubelet-client-certificate "${run}/pki/kubelet-client.crt"
      --kubelet-client-key "${run}/pki/kubelet-client.key"
      --kubelet-certificate-authority "${run}/pki/ca.crt"
      --kubelet-preferred-address-types InternalIP
      --enable-aggregator-routing=true
    )
  fi
  SERVICE_CIDR=${SPLICE_E2E_SERVICE_CIDR:-${default_cidr}}
  make_pki

  cat >"${state}" <<EOF
BIN=${BIN}
ETCD_PORT=${ETCD_PORT}
ETCD_PEER_PORT=${ETCD_PEER_PORT}
APISERVER_PORT=${APISERVER_PORT}
KCM_PORT=${KCM_PORT}
SERVICE_CIDR=${SERVICE_CIDR}
NODE_MODE=${NODE_MODE}
EOF

  "${BIN}/etcd" \
    --name splice-e2e \
    --data-dir "${run}/etcd" \
    --listen-client-urls "http://127.0.0.1:${ETCD_PORT}" \
    --advertise-client-urls "http://127.0.0.1:${ETCD_PORT}" \
    --listen-peer-urls "http://127.0.0.1:${ETCD_PEER_PORT}" \
    --initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PEER_PORT}" \
    --initial-cluster "splice-e2e=http://127.0.0.1:${ETCD_PEER_PORT}" \
    --unsafe-no-fsync \
    --log-level warn \
    </dev/null >"${run}/logs/etcd.log" 2>&1 &
  echo "ETCD_PID=$!" >>"${state}"
  ETCD_PID=$!
  wait_for "etcd /health" etcd "${ETCD_PID}" curl -fsS "http://127.0.0.1:${ETCD_PORT}/health"

  "${BIN}/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:${ETCD_PORT}" \
    --bind-address 127.0.0.1 \
    --advertise-address 127.0.0.1 \
    --secure-port "${APISERVER_PORT}" \
    --cert-dir "${run}/apiserver-certs" \
    --tls-cert-file "${run}/pki/apiserver.crt" \
    --tls-private-key-file "${run}/pki/apiserver.key" \
    --client-ca-file "${run}/pki/ca.crt" \
    --authorization-mode Node,RBAC \
    --service-account-issuer "https://kubernetes.default.svc.cluster.local" \
    --service-account-key-file "${run}/pki/sa.pub" \
    --service-account-signing-key-file "${run}/pki/sa.key" \
    --service-cluster-ip-range "${SERVICE_CIDR}" \
    --allow-privileged=true \
    --endpoint-reconciler-type none \
    "${node_flags[@]}" \
    --v 1 \
    </dev/null >"${run}/logs/kube-apiserver.log" 2>&1 &
  echo "APISERVER_PID=$!" >>"${state}"
  APISERVER_PID=$!

  local kubectl=("${BIN}/kubectl" --kubeconfig "${run}/kubeconfig" --request-timeout 5s)
  wait_for "kube-apiserver /readyz" kube-apiserver "${APISERVER_PID}" "${kubectl[@]}" get --raw /readyz

  # Started only once the apiserver is ready: kube-controller-manager exits
  # at once if the bootstrap RBAC that lets it read its config is not there.
  # Each controller runs as its own service account, bound to the
  # system:controller:* roles, as in a real cluster; its own user may only
  # mint those credentials. SPLICE_E2E_KCM_FLAGS adds flags (word-split), e.g. the
  # benchmark's --kube-api-qps, so a burst is paced by the API server, not the client.
  # shellcheck disable=SC2086
  "${BIN}/kube-controller-manager" ${SPLICE_E2E_KCM_FLAGS:-} \
    --kubeconfig "${run}/kcm.kubeconfig" \
    --authentication-kubeconfig "${run}/kcm.kubeconfig" \
    --authorization-kubeconfig "${run}/kcm.kubeconfig" \
    --bind-address 127.0.0.1 \
    --secure-port "${KCM_PORT}" \
    --cert-dir "${run}/kcm-certs" \
    --leader-elect=false \
    --use-service-account-credentials=true \
    --controllers "${SPLICE_E2E_CONTROLLERS:-${controllers}}" \
    --service-account-private-key-file "${run}/pki/sa.key" \
    --root-ca-file "${run}/pki/ca.crt" \
    --v 1 \
    </dev/null >"${run}/logs/kube-controller-manager.log" 2>&1 &
  echo "KCM_PID=$!" >>"${state}"
  KCM_PID=$!
  wait_for "the default ServiceAccount" kube-controller-manager "${KCM_PID}" "${kubectl[@]}" -n default get serviceaccount default
  trap - INT TERM

  log "control plane ready in $((SECONDS - t0))s (apiserver https://127.0.0.1:${APISERVER_PORT}, logs in ${run}/logs); use it with:"
  print_env
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) print_env ;;
  *) log "usage: $0 start|stop|env"; exit 2 ;;
esac
