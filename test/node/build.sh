#!/usr/bin/env bash
# Builds and installs what a real node needs, with no Docker engine and no registry
# (see ../shared/REALNODE.md for how it was shown to work on these machines):
#   - kubelet, kube-scheduler and kube-proxy of the control plane's release, from Go
#     modules (test/e2e/build.sh --node), beside the control plane's binaries;
#   - containerd 2.x with its runc shim and ctr, from the Go module proxy, static;
#   - runc and the CNI plugins from Debian (apt), with socat for the API server's
#     address on the node's link, buildah and mmdebstrap for the images.
# Everything lands under ~/.cache/splice and is reused when it reports the pinned
# versions, so only the first run on a machine pays. The last two lines on stdout
# are the directories holding the Kubernetes binaries and containerd's; the rest goes
# to stderr.
# Needs root (apt) and Go 1.26.
set -euo pipefail
cd "$(dirname "$0")"

containerd_version=v2.4.2
cache="${HOME}/.cache/splice"
out="${cache}/containerd-${containerd_version}/bin"

log() { printf '%s\n' "$*" >&2; }

missing=()
for pair in runc:runc socat:socat buildah:buildah mmdebstrap:mmdebstrap tcpdump:tcpdump; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
[[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/portmap ]] || missing+=(containernetworking-plugins)
if ((${#missing[@]} > 0)); then
  [[ $(id -u) -eq 0 ]] || { log "the node needs ${missing[*]}: run as root, or apt-get install -y ${missing[*]}"; exit 1; }
  log "installing ${missing[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

k8s_bin="$(bash ../e2e/build.sh --node | tail -n1)"

containerd_ok() {
  local v
  [[ -x "${out}/containerd" && -x "${out}/containerd-shim-runc-v2" && -x "${out}/ctr" ]] || return 1
  v="$("${out}/containerd" --version 2>&1)" && [[ "${v}" == *" ${containerd_version} "* ]] || return 1
}

if ! containerd_ok; then
  t=${SECONDS}
  log "building containerd ${containerd_version} into ${out}"
  # Static (no cgo), without the snapshotters that need C libraries; stamped with
  # the version the way containerd's Makefile does.
  export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
  partial="${out}.partial"
  rm -rf "${partial}"
  mkdir -p "${partial}"
  ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=${containerd_version}"
  for cmd in containerd containerd-shim-runc-v2 ctr; do
    (cd / && GOBIN="${partial}" go install -p 2 -trimpath -tags 'no_btrfs no_devmapper no_zfs' -ldflags="${ldflags}" \
      "github.com/containerd/containerd/v2/cmd/${cmd}@${containerd_version}") >&2
  done
  rm -rf "${out}"
  mv "${partial}" "${out}"
  containerd_ok || { log "the built containerd does not report ${containerd_version}: $("${out}/containerd" --version 2>&1)"; exit 1; }
  log "built containerd in $((SECONDS - t))s"
fi
echo "${k8s_bin}"
echo "${out}"
