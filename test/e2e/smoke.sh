#!/usr/bin/env bash
# Smoke checks for the loopback control plane of cluster.sh: the things the
# end-to-end tests rely on, each checked against the real apiserver. Starts
# its own cluster in a separate run directory and always stops it.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
export SPLICE_E2E_DIR="${SPLICE_E2E_DIR:-/tmp/splice-e2e-smoke}"
# The release build.sh pins; one place to change it.
want_version="$(sed -n 's/^k8s_version=\(v[0-9.]*\).*/\1/p' "${here}/build.sh")"

passed=0 failed=0
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$1"; }
not_ok() { failed=$((failed + 1)); printf 'FAIL %s\n' "$1"; [[ -z "${2:-}" ]] || printf '%s\n' "$2" | sed 's/^/     /'; }

trap 'bash "${here}/cluster.sh" stop' EXIT

t0=${SECONDS}
# Not eval "$(...)": that would hide a failed start behind eval's own status.
exports="$(bash "${here}/cluster.sh" start)"
eval "${exports}"
echo "cluster started in $((SECONDS - t0))s"
k() { "${SPLICE_E2E_KUBECTL}" --request-timeout 10s "$@"; }

# 1. The server reports the pinned release, as stamped by build.sh.
out="$(k version 2>&1)" || true
if grep -q "^Server Version: ${want_version}$" <<<"${out}"; then ok "server version ${want_version}"; else not_ok "server version" "${out}"; fi

# 2. The replicaset controller creates pods from a Deployment. They stay
#    Pending: there is no scheduler and no kubelet, and admission is all the
#    tests need.
k create namespace demo >/dev/null
k -n demo create deployment web --image=example.com/web:1 --replicas=2 >/dev/null
n=0
for ((i = 0; i < 120; i++)); do
  n=$(k -n demo get pods -l app=web -o name 2>/dev/null | wc -l)
  ((n >= 2)) && break
  sleep 0.5
done
if ((n == 2)); then ok "deployment created 2 pods"; else not_ok "deployment created ${n} pods in 60s, want 2" "$(k -n demo get deploy,rs,pods 2>&1)"; fi

# 3. Service-account tokens are issued (the TokenRequest API needs the
#    signing key and issuer flags).
k -n demo create serviceaccount x >/dev/null
token="$(k -n demo create token x 2>&1)" || true
if [[ "${token}" =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]]; then ok "kubectl create token"; else not_ok "kubectl create token" "${token}"; fi

# 4. PodSecurity admission is on: a restricted namespace rejects a privileged
#    pod that an unlabelled namespace accepts.
privileged_pod() {
  cat <<EOF
apiVersion: v1
kind: Pod
metadata: {name: priv, namespace: $1}
spec:
  containers:
  - name: c
    image: example.com/web:1
    securityContext: {privileged: true}
EOF
}
k create namespace locked >/dev/null
k label namespace locked pod-security.kubernetes.io/enforce=restricted >/dev/null
out="$(privileged_pod locked | k apply -f - 2>&1)" && rc=0 || rc=$?
if ((rc != 0)) && grep -q 'violates PodSecurity "restricted' <<<"${out}"; then
  ok "PodSecurity rejects a privileged pod in a restricted namespace"
else
  not_ok "PodSecurity rejects a privileged pod in a restricted namespace" "${out}"
fi
out="$(privileged_pod demo | k apply -f - 2>&1)" || true
if grep -q 'pod/priv created' <<<"${out}"; then ok "an unlabelled namespace accepts the same pod"; else not_ok "an unlabelled namespace accepts the same pod" "${out}"; fi

# 5. Server-side dry run goes through admission without persisting.
out="$(k -n demo create configmap dry --from-literal=a=b --dry-run=client -o yaml | k apply --dry-run=server -f - 2>&1)" || true
if grep -q 'configmap/dry created (server dry run)' <<<"${out}" && ! k -n demo get configmap dry >/dev/null 2>&1; then
  ok "kubectl apply --dry-run=server"
else
  not_ok "kubectl apply --dry-run=server" "${out}"
fi

# 6. A MutatingWebhookConfiguration with a loopback URL is accepted, and the
#    apiserver really calls it: nothing listens on the port, so with
#    failurePolicy Fail a pod in a selected namespace is refused with a
#    connection error for that URL.
port=$((20000 + RANDOM % 12000))
while (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; do port=$((20000 + RANDOM % 12000)); done
url="https://127.0.0.1:${port}/inject"
out="$(k apply -f - 2>&1 <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: splice-smoke}
webhooks:
- name: inject.splice.test
  clientConfig:
    url: ${url}
    caBundle: $(base64 -w0 <"${SPLICE_E2E_CA_CERT}")
  rules:
  - {operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [pods]}
  namespaceSelector:
    matchLabels: {splice-smoke: hooked}
  failurePolicy: Fail
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 5
EOF
)" || true
if grep -q 'mutatingwebhookconfiguration.admissionregistration.k8s.io/splice-smoke created' <<<"${out}"; then
  ok "MutatingWebhookConfiguration with url ${url} accepted"
else
  not_ok "MutatingWebhookConfiguration with a loopback url" "${out}"
fi
k create namespace hooked >/dev/null
k label namespace hooked splice-smoke=hooked >/dev/null
# The webhook informer may take a moment to see the new configuration.
out=""
for ((i = 0; i < 20; i++)); do
  out="$(k -n hooked run p --image=example.com/web:1 2>&1)" && { k -n hooked delete pod p --wait=false >/dev/null; sleep 0.5; continue; }
  break
done
if grep -q "failed calling webhook \"inject.splice.test\".*127.0.0.1:${port}" <<<"${out}"; then
  ok "apiserver calls the loopback webhook"
else
  not_ok "apiserver calls the loopback webhook" "${out}"
fi

# Memory of the running control plane, for sizing test runs.
# shellcheck disable=SC1091
source "${SPLICE_E2E_DIR}/state.env"
for p in etcd:${ETCD_PID} kube-apiserver:${APISERVER_PID} kube-controller-manager:${KCM_PID}; do
  printf '%s RSS %s\n' "${p%%:*}" "$(awk '/^VmRSS/{printf "%d MiB", $2/1024}' "/proc/${p#*:}/status")"
done

echo "smoke: ${passed} passed, ${failed} failed"
((failed == 0))
