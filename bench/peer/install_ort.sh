#!/usr/bin/env bash
# Installs ONNX Runtime for Node (npm package onnxruntime-node) into bench/peer/node_modules, to serve
# as a second opinion for the end-to-end tests and the benchmarks. node_modules is not committed.
#
# The CPU build of ORT ships inside the npm package; its install script would try to download the
# CUDA provider from outside the npm registry, so install scripts are skipped (CPU only).
set -euo pipefail
cd "$(dirname "$0")"
ORT_VERSION=${ORT_VERSION:-1.30.0}
if ! command -v npm >/dev/null 2>&1; then
  echo "install_ort.sh: npm not found (apt-get install nodejs npm)" >&2
  exit 1
fi
if [ -f node_modules/onnxruntime-node/package.json ] &&
   node -e "process.exit(require('./node_modules/onnxruntime-node/package.json').version === '$ORT_VERSION' ? 0 : 1)"; then
  echo "onnxruntime-node $ORT_VERSION already installed"
else
  npm install --no-save --no-audit --no-fund --ignore-scripts --prefix . "onnxruntime-node@$ORT_VERSION"
fi
node -e "const ort = require('./node_modules/onnxruntime-node'); console.log('onnxruntime-node ' + require('./node_modules/onnxruntime-node/package.json').version + ', ORT ' + (ort.env.versions ? JSON.stringify(ort.env.versions) : '?'))"
