#!/usr/bin/env bash
# Make sure Fashion-MNIST is installed (Debian package dataset-fashion-mnist). Idempotent.
set -euo pipefail
dir=${LOSSKIT_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
if [ -f "$dir/train-images-idx3-ubyte.gz" ] && [ -f "$dir/t10k-labels-idx1-ubyte.gz" ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "Fashion-MNIST is missing from $dir." >&2
  echo "Install it as root with: apt-get update && apt-get install -y dataset-fashion-mnist" >&2
  echo "(or point LOSSKIT_FASHION_MNIST at a folder holding the four *-ubyte.gz files)" >&2
  exit 1
fi
echo "installing Fashion-MNIST (apt-get install -y dataset-fashion-mnist)…"
apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
  || { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; }
