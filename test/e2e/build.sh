#!/usr/bin/env bash
# Builds the control plane the end-to-end tests run against: kube-apiserver,
# kube-controller-manager and kubectl of one pinned Kubernetes release, plus
# the etcd server that release is built and tested with, all from Go modules.
# With --node it builds the node's binaries of the same release instead:
# kubelet, kube-scheduler and kube-proxy (the real-node tests, test/node/).
#
# k8s.io/kubernetes is not meant to be used as a dependency: its go.mod
# requires its staging modules (k8s.io/api, k8s.io/client-go, ...) at v0.0.0
# and replaces them with ./staging/src/..., and a dependency's replace
# directives are ignored. So we build in a throwaway module that requires
# k8s.io/kubernetes and replaces each staging module with its published
# v0.<minor>.<patch> release, which is cut from the same tag.
#
# Binaries land in ~/.cache/splice/k8s-<version>/bin; when they are there and
# report the pinned versions the script does nothing, so only the first run on
# a machine pays for the build. The last line on stdout is that bin directory;
# everything else goes to stderr.
set -euo pipefail

mode=control-plane
case "${1:-}" in
  '') ;;
  --node) mode=node ;;
  *) echo "usage: $0 [--node]" >&2; exit 2 ;;
esac

k8s_version=v1.37.2   # go directive 1.26.0: builds with the Go 1.26 we have
etcd_version=v3.7.0   # what k8s.io/kubernetes v1.37.2 pins for go.etcd.io/etcd/*

minor=${k8s_version#v1.}; minor=${minor%%.*}
staging_version=v0.${k8s_version#v1.}
cache="${HOME}/.cache/splice"
out="${cache}/k8s-${k8s_version}"
bin="${out}/bin"
mod="${cache}/build-${k8s_version}"

# Go settings that a fresh machine may not have in its go env: never fetch a
# different toolchain, and there is no VCS checkout to stamp into binaries.
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0

log() { printf '%s\n' "$*" >&2; }

# Outputs are captured and compared in the shell rather than piped to
# grep -q, which under pipefail fails whenever grep exits before the binary
# has finished writing.
node_installed_ok() {
  local v name
  for name in kubelet kube-scheduler kube-proxy; do
    [[ -x "${bin}/${name}" ]] || return 1
    v="$("${bin}/${name}" --version 2>&1)" && [[ "${v}" == "Kubernetes ${k8s_version}" ]] || return 1
  done
}

installed_ok() {
  [[ "${mode}" == node ]] && { node_installed_ok; return; }
  local v
  [[ -x "${bin}/kube-apiserver" && -x "${bin}/kube-controller-manager" \
     && -x "${bin}/kubectl" && -x "${bin}/etcd" ]] || return 1
  v="$("${bin}/kube-apiserver" --version 2>&1)" && [[ "${v}" == "Kubernetes ${k8s_version}" ]] || return 1
  v="$("${bin}/kube-controller-manager" --version 2>&1)" && [[ "${v}" == "Kubernetes ${k8s_version}" ]] || return 1
  v="$("${bin}/kubectl" version --client 2>&1)" && [[ "${v}" == *"Client Version: ${k8s_version}"$'\n'* ]] || return 1
  v="$("${bin}/etcd" --version 2>&1)" && [[ "${v}" == "etcd Version: ${etcd_version#v}"$'\n'* ]] || return 1
}

what="kubernetes ${k8s_version} and etcd ${etcd_version}"
[[ "${mode}" == node ]] && what="kubelet, kube-scheduler and kube-proxy ${k8s_version}"
if installed_ok; then
  log "${what} already built in ${bin}"
  echo "${bin}"
  exit 0
fi

total_start=${SECONDS}
log "building ${what} into ${bin} (module in ${mod})"


# The upstream go.mod tells which staging modules exist for this release.
# From / so that no enclosing go.mod is consulted or touched.
info_json="$(cd / && go mod download -json "k8s.io/kubernetes@${k8s_version}")"
upstream_mod="$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' <<<"${info_json}")"
upstream_info="$(sed -n 's/^[[:space:]]*"Info": "\(.*\)",$/\1/p' <<<"${info_json}")"
[[ -f "${upstream_mod}" && -f "${upstream_info}" ]] || { log "go mod download gave no go.mod: ${info_json}"; exit 1; }

# Only staging modules that k8s.io/kubernetes requires need a replacement;
# the sample-* ones are replaced upstream but never required.
required="$(awk '/^require \(/{r=1;next} r&&/^\)/{r=0} r{print $1}' "${upstream_mod}")"
staging="$(awk '$2=="=>" && $3 ~ /^\.\/staging\// {print $1}' "${upstream_mod}" | grep -Fxf <(printf '%s\n' "${required}") || true)"
[[ -n "${staging}" ]] || { log "found no staging modules in ${upstream_mod}"; exit 1; }

# The module is shared by both modes; it is written anew only when it lacks a
# tool this mode builds (a machine that built the control plane before the
# node's tools were listed).
if ! grep -qs 'k8s.io/kubernetes/cmd/kube-proxy' "${mod}/go.mod"; then
  rm -rf "${mod}"
  mkdir -p "${mod}"
  {
    echo "module splice.test/k8s-build"
    echo
    echo "go 1.26.0"
    echo
    echo "godebug default=go1.26"
    echo
    echo "require k8s.io/kubernetes ${k8s_version}"
    echo
    echo "tool ("
    echo "	go.etcd.io/etcd/server/v3"
    echo "	k8s.io/kubernetes/cmd/kube-apiserver"
    echo "	k8s.io/kubernetes/cmd/kube-controller-manager"
    echo "	k8s.io/kubernetes/cmd/kubectl"
    echo "	k8s.io/kubernetes/cmd/kubelet"
    echo "	k8s.io/kubernetes/cmd/kube-scheduler"
    echo "	k8s.io/kubernetes/cmd/kube-proxy"
    echo ")"
    echo
    echo "replace ("
    while read -r m; do echo "	${m} => ${m} ${staging_version}"; done <<<"${staging}"
    echo ")"
  } >"${mod}/go.mod"

  t=${SECONDS}
  (cd "${mod}" && go mod tidy) >&2
  log "go mod tidy: $((SECONDS - t))s"
fi

selected_etcd="$(cd "${mod}" && go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)"
if [[ "${selected_etcd}" != "${etcd_version}" ]]; then
  log "module graph selects go.etcd.io/etcd/server/v3 ${selected_etcd}, expected ${etcd_version}"
  exit 1
fi

# Stamp the version the way hack/lib/version.sh does, so the server reports
# its real version (kubectl and the compatibility-version checks read it).
# The proxy's .info carries the release time but no commit, so gitCommit stays
# empty rather than made up.
build_date="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "${upstream_info}")"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X ${pkg}.gitVersion=${k8s_version}"
  ldflags+=" -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
  ldflags+=" -X ${pkg}.gitCommit= -X ${pkg}.gitTreeState=clean"
  ldflags+=" -X ${pkg}.buildDate=${build_date}"
done

tmp_bin="${out}/bin.partial"
rm -rf "${tmp_bin}"
mkdir -p "${tmp_bin}"
# One binary at a time with -p 2: the machine has 2 cores, and linking
# kube-apiserver is the memory peak. Later binaries reuse the build cache, so
# their times are what each adds on top of the ones before.
build() {
  local name=$1 pkg=$2 t=${SECONDS}
  (cd "${mod}" && go build -p 2 -trimpath -ldflags="${ldflags}" -o "${tmp_bin}/${name}" "${pkg}") >&2
  log "built ${name}: $((SECONDS - t))s"
}
if [[ "${mode}" == node ]]; then
  build kubelet k8s.io/kubernetes/cmd/kubelet
  build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler
  build kube-proxy k8s.io/kubernetes/cmd/kube-proxy
  # Beside the control plane's binaries, which stay as they are.
  mkdir -p "${bin}"
  mv "${tmp_bin}"/* "${bin}/"
  rmdir "${tmp_bin}"
else
  build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
  build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
  build kubectl k8s.io/kubernetes/cmd/kubectl
  build etcd go.etcd.io/etcd/server/v3
  # The node's binaries, when built before, survive a rebuild of these.
  for name in kubelet kube-scheduler kube-proxy; do
    if [[ -x "${bin}/${name}" ]]; then mv "${bin}/${name}" "${tmp_bin}/"; fi
  done
  rm -rf "${bin}"
  mv "${tmp_bin}" "${bin}"
fi
if ! installed_ok; then
  log "built binaries do not report ${k8s_version} / etcd ${etcd_version}:"
  "${bin}/kube-apiserver" --version >&2 || true
  "${bin}/kubectl" version --client >&2 || true
  "${bin}/etcd" --version >&2 || true
  exit 1
fi
log "built in $((SECONDS - total_start))s; $(du -sh "${bin}" | cut -f1) in ${bin}"
echo "${bin}"
