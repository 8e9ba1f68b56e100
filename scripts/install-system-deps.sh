#!/usr/bin/env bash
# Install the Debian packages the test suite and benchmarks need, only when they are missing.
set -euo pipefail
# nginx: the buffering reverse proxy of the slow-client tests (deploy/nginx/); curl: the
# README tour, run as written by tests/integration/test_docs.py.
packages=(pngquant docker-compose chromium chromium-driver nginx curl)
# The container tests (tests/containers): podman with runc, its network stack, and mmdebstrap
# for a Debian base image made here (no container registry needed).
packages+=(podman runc netavark aardvark-dns iptables mmdebstrap)
# The engine's C kernels are compiled by `pip install`: a compiler and the Python headers.
packages+=($(bash "$(dirname "$0")/build-deps.sh" --list))
missing=()
for pkg in "${packages[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
# s3rver (tests/s3rver), the S3 server that enforces presigned URL expiry, runs on Node.js.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
