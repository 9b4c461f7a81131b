#!/usr/bin/env bash
# Installs what moec needs to build and test, from Debian's packages.
# Idempotent: packages already present are skipped, and nothing is printed when all are there.
# Works as root or through sudo.
set -euo pipefail

pkgs=(
  cmake ninja-build g++ make python3 python3-numpy
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
  flatbuffers-compiler libflatbuffers-dev
  libopenblas-dev libgtest-dev libsodium-dev
  clang-22 libclang-rt-22-dev
  libopenmpi-dev openmpi-bin
  python3-pybind11 pybind11-dev libdlpack-dev python3-pytest python3-torch
  python3-pip python3-setuptools python3-wheel
)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "error: missing packages (${missing[*]}) and neither root nor sudo is available" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
