#!/usr/bin/env bash
# Builds helm (the chart's lint, template and install in test/e2e/helm.test.ts) from its Go
# module into ~/.cache/splice/helm-<version>/bin, once per machine. The last line on
# stdout is the path of the helm binary; everything else goes to stderr.
set -euo pipefail
version=v3.22.0
bin="${HOME}/.cache/splice/helm-${version}/bin"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
if [[ -x "${bin}/helm" ]] && [[ "$("${bin}/helm" version --template '{{.Version}}' 2>/dev/null)" == "${version}" ]]; then
  echo "${bin}/helm"
  exit 0
fi
start=${SECONDS}
echo "building helm ${version} into ${bin}" >&2
mkdir -p "${bin}"
# The version is stamped as helm's own build does (its Makefile's LDFLAGS).
(cd / && GOBIN="${bin}" go install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${version}" "helm.sh/helm/v3/cmd/helm@${version}") >&2
echo "built helm ${version} in $((SECONDS - start)) s" >&2
echo "${bin}/helm"
