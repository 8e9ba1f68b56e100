#!/usr/bin/env bash
# What `pip install` needs to build the engine's C kernels (kcolors/engine/_kernels.c): a C
# compiler and the headers of the Python it builds for. Installs the missing ones from Debian,
# or, with --list, prints the Debian packages to install.
set -euo pipefail
python=${PYTHON:-python3}
command -v "$python" >/dev/null 2>&1 || python=python3
missing=()
command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
include=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
[ -f "$include/Python.h" ] || missing+=(python3-dev)
if [ "${1:-}" = "--list" ]; then
  echo "${missing[@]}"
  exit 0
fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
