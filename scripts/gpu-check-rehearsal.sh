#!/usr/bin/env bash
# Rehearses scripts/gpu-check.sh on a Debian 12 build machine WITHOUT a GPU, as close
# to a GPU machine as it gets: in a private mount namespace (root, `unshare -m`) the
# system's MPI, PMIx, hwloc, libevent, FAISS, HDF5, OpenBLAS, Boost, toml++, spdlog,
# fmt, GTest (headers, libraries, CMake packages, binaries, /etc/openmpi) and ssh are
# hidden, so configure, build and every run can only succeed from the unpacked
# .gpu-debs prefix; Python is a venv like the GPU machine's (cmake, ninja, numpy, h5py
# from PyPI; torch = scripts/torch.sh's pinned wheel cache through a .pth file).
# The GPU-only checks are skipped (--no-gpu); training runs on the CPU.
#
# Why: every failed attempt on the GPU machine costs minutes of scarce GPU time; a path
# problem must show up here first. Usage: scripts/gpu-check-rehearsal.sh [gpu-check args]
# (VENV overrides the venv folder, default ~/.cache/hardy_dist/gpu-rehearsal-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "rehearsal: $*" >&2; }

if [ "${1:-}" != --inside ]; then
  [ "$(id -u)" = 0 ] || { echo "rehearsal: ERROR: needs root (unshare -m, bind mounts)" >&2; exit 1; }
  [ -f .gpu-debs/prefix.tar.xz ] || { echo "rehearsal: ERROR: run scripts/fetch-gpu-debs.sh first" >&2; exit 1; }
  VENV=${VENV:-$HOME/.cache/hardy_dist/gpu-rehearsal-venv}
  site=$(./scripts/torch.sh --cuda --no-python)
  if [ ! -x "$VENV/bin/python3" ]; then
    say "creating $VENV (cmake, ninja, numpy, h5py from PyPI)"
    python3 -m venv "$VENV"
    "$VENV/bin/python3" -m pip install --quiet cmake ninja numpy h5py
  fi
  # what `import torch` needs (the GPU machine's venv has them with torch)
  "$VENV/bin/python3" -c 'import typing_extensions, sympy, filelock, jinja2, networkx, fsspec' 2>/dev/null \
    || "$VENV/bin/python3" -m pip install --quiet typing_extensions sympy filelock jinja2 networkx fsspec
  echo "$site" > "$("$VENV/bin/python3" -c 'import site;print(site.getsitepackages()[0])')/hardy-torch.pth"
  export PYTHON=$VENV/bin/python3
  exec unshare -m --propagation private "$0" --inside "$@"
fi
shift

A=/usr/lib/x86_64-linux-gnu
empty=$(mktemp -d)
n=0
hide_dir() { [ -d "$1" ] && mount --bind "$empty" "$1" && n=$((n+1)) || true; }
hide_file() { [ -e "$1" ] && mount --bind /dev/null "$1" 2>/dev/null && n=$((n+1)) || true; }
for d in /usr/include/{boost,hdf5,faiss,spdlog,fmt,toml++,gtest,gmock,nlohmann} \
         /usr/include/x86_64-linux-gnu/{openblas-pthread,openmpi} \
         $A/{openmpi,pmix2,hdf5,openblas-pthread,fortran,cmake} /usr/lib/cmake \
         /usr/share/{openmpi,pmix,hwloc} /etc/openmpi /usr/share/cmake/{fmt,spdlog,tomlplusplus,nlohmann_json}; do
  hide_dir "$d"
done
shopt -s nullglob
for f in $A/lib{mpi,open-rte,open-pal,ompitrace,oshmem,mca_common,hwloc,pmix,event,faiss,hdf5,sz,aec,boost_program_options,tomlplusplus,spdlog,fmt,gtest,gmock,blas,lapack,openblas,cblas}*.so* \
         $A/lib{faiss,gtest,gmock,fmt,spdlog}*.a \
         /usr/bin/{mpi,orte,ompi,opal,oshmem,shmem,h5}* /usr/bin/{ssh,rsh} \
         /usr/include/x86_64-linux-gnu/{mpi,cblas.h,openblas_config.h} /usr/include/{cblas.h,lapacke*.h}; do
  hide_file "$f"
done
say "hid $n system paths (MPI, PMIx, hwloc, libevent, FAISS, HDF5, BLAS, Boost, toml++, spdlog, fmt, GTest, ssh)"
# Self-check: the hiding works.
if [ -e /usr/include/boost/version.hpp ] || [ -s /usr/bin/orterun ] || [ -s $A/libfaiss.a ] \
   || [ -s $A/openmpi/lib/libmpi.so.40 ]; then
  echo "rehearsal: ERROR: hiding failed" >&2; exit 1
fi
exec ./scripts/gpu-check.sh --no-gpu "$@"
