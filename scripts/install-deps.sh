#!/usr/bin/env bash
# Installs every Debian 12 package hardy_dist needs to build, test and run.
# Idempotent: packages already present are left alone; apt-get update runs first
# only when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  libfaiss-dev libopenblas-dev liblapack-dev
  libopenmpi-dev openmpi-bin
  libboost-program-options-dev
  libtomlplusplus-dev
  libhdf5-dev hdf5-tools
  libgtest-dev libgmock-dev
  libspdlog-dev libfmt-dev
  nlohmann-json3-dev
  python3 python3-numpy python3-h5py
  iproute2 nftables munge slurm-wlm
  gnuplot-nox
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
