#!/usr/bin/env bash
# Installs joule's build and test dependencies from Debian packages. Idempotent: does nothing when
# everything is already installed.
set -euo pipefail

PACKAGES=(
  cmake ninja-build g++ ccache pkg-config
  libprotobuf-dev protobuf-compiler libonnx-dev
  libeigen3-dev libgtest-dev libgmock-dev libbenchmark-dev libopenblas-dev libdnnl-dev
  libonnx-testdata python3-onnx python3-numpy python3-torch python3-sklearn
  clang libclang-rt-dev nodejs
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "setup: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
