#!/usr/bin/env bash
# Provides a current LibTorch and prints the site-packages-like folder that holds it
# (torch/ and, for a CUDA torch, nvidia/ side by side) on stdout; messages go to stderr.
#
# Why: Debian ships only LibTorch 1.13 (CPU), 2-5x slower at the paper's sizes. One
# script with ONE pin serves every build (scripts/build.sh, CPU and CUDA):
#   1. HARDY_TORCH_SITE=<dir> if set (a folder containing torch/), else
#   2. the PyTorch of the user's Python environment ($PYTHON or python3), found the
#      ecosystem's way (torch.utils.cmake_prefix_path), if it imports, else
#   3. the pinned PyPI wheels below, downloaded ONCE into
#      ~/.cache/hardy_dist/torch-<version> (override: HARDY_CACHE) and unpacked with
#      `pip install --no-deps --no-index --no-compile --target`.
# With --cuda it insists on a CUDA torch whose CUDA major equals `nvcc --version`'s.
#
# PyPI's Linux torch wheel is always a CUDA build. What is downloaded depends on use:
#   --cpu  (a CPU-only build: links libtorch_cpu + libc10, needs no CUDA toolkit)
#          torch + the two CUDA libraries libtorch_cpu.so itself loads (cudart, cupti)
#   --cuda torch + those two + NCCL, cuSPARSELt, NVSHMEM, cuFile (what libtorch_cuda.so
#          needs beyond the system toolkit's libraries)
# Without either, --cuda when nvcc is found and --cpu otherwise.
#
# Usage: scripts/torch.sh [--cpu|--cuda] [--no-python]
#   --no-python   skip step 2 (always use the pinned, cached wheels)
set -euo pipefail

# ---- the pin (see ../shared/docs/CUDA-BUILD.md: torch's METADATA Requires-Dist) ----
TORCH_VERSION=2.15.0
# Link-only minimal set for the CUDA wheel: what libtorch_cuda.so needs that the
# system CUDA 13 toolkit does not provide (the rest comes from /usr/local/cuda).
# The CPU set: libtorch_cpu.so has DT_NEEDED libcudart.so.13 and libcupti.so.13
# (from the wheel's Requires-Dist cuda-toolkit[cudart,cupti]==13.2.2).
CPU_PINS=(
  nvidia-cuda-runtime==13.2.86
  nvidia-cuda-cupti==13.2.86
)
NVIDIA_PINS=(
  nvidia-nccl-cu13==2.30.7
  nvidia-cusparselt-cu13==0.8.1
  nvidia-nvshmem-cu13==3.7.2
  nvidia-cufile==1.17.1.22
)

have_nvcc() { command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; }
want_cuda=auto
use_python=1
for a in "$@"; do
  case "$a" in
    --cuda) want_cuda=1 ;;
    --cpu) want_cuda=0 ;;
    --no-python) use_python=0 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "torch.sh: unknown argument '$a'" >&2; exit 2 ;;
  esac
done

if [ "$want_cuda" = auto ]; then
  if have_nvcc; then want_cuda=1; else want_cuda=0; fi
fi

say() { echo "torch.sh: $*" >&2; }
die() { echo "torch.sh: ERROR: $*" >&2; exit 1; }

# CUDA version of a torch/ folder without importing it (works for any Python ABI).
torch_cuda_of() {  # $1 = site dir; prints e.g. 13.2, or "None"
  # "cuda = '13.2'" or "cuda: Optional[str] = '13.2'" or "... = None"
  sed -n "s/^cuda[^=]*= *'\{0,1\}\([^']*\)'\{0,1\}.*/\1/p" "$1/torch/version.py" | head -1
}
torch_version_of() {
  sed -n "s/^__version__ *= *'\([^']*\)'.*/\1/p" "$1/torch/version.py" | head -1
}

check_site() {  # $1 = site dir, $2 = where it came from
  local site=$1 from=$2
  [ -f "$site/torch/share/cmake/Torch/TorchConfig.cmake" ] \
    || die "$from: no torch/share/cmake/Torch/TorchConfig.cmake under $site"
  local tv tc; tv=$(torch_version_of "$site"); tc=$(torch_cuda_of "$site")
  if [ "$want_cuda" = 1 ]; then
    [ -n "$tc" ] && [ "$tc" != None ] || die "$from: torch $tv under $site is a CPU build; --cuda needs a CUDA one"
    have_nvcc || die "no nvcc on PATH or in /usr/local/cuda/bin"
    local nvcc; nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
    local nv; nv=$("$nvcc" --version | sed -n 's/.*release \([0-9]*\)\.\([0-9]*\).*/\1.\2/p')
    [ "${nv%%.*}" = "${tc%%.*}" ] \
      || die "CUDA major mismatch: torch $tv ($from) is built for CUDA $tc, nvcc says $nv; install a CUDA ${tc%%.*} toolkit or a torch for CUDA ${nv%%.*}"
    [ -d "$site/nvidia/nccl/lib" ] || die "$from: no nvidia/nccl beside torch under $site (pip install nvidia-nccl-cu${tc%%.*})"
    say "using torch $tv (CUDA $tc; toolkit nvcc $nv) from $from: $site"
  else
    say "using torch $tv (CUDA ${tc:-None}) from $from: $site"
  fi
  echo "$site"
}

# 1. explicit folder
if [ -n "${HARDY_TORCH_SITE:-}" ]; then
  check_site "$HARDY_TORCH_SITE" "HARDY_TORCH_SITE"; exit 0
fi

# 2. the user's Python environment
if [ "$use_python" = 1 ]; then
  PY=${PYTHON:-python3}
  if command -v "$PY" >/dev/null 2>&1 \
     && prefix=$("$PY" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' 2>/dev/null); then
    # cmake_prefix_path = <site>/torch/share/cmake
    site=$(cd "$prefix/../../.." && pwd)
    if [ "$want_cuda" = 0 ] || { tc=$(torch_cuda_of "$site"); [ -n "$tc" ] && [ "$tc" != None ]; }; then
      check_site "$site" "$PY's PyTorch"; exit 0
    fi
    say "$PY has a CPU PyTorch; --cuda falls back to the pinned wheel"
  fi
fi

# 3. the pinned wheels, downloaded once (per set: the CUDA set adds to the CPU set)
if [ "$want_cuda" = 1 ]; then set_name=cuda; pins=("${CPU_PINS[@]}" "${NVIDIA_PINS[@]}")
else set_name=cpu; pins=("${CPU_PINS[@]}"); fi
CACHE=${HARDY_CACHE:-$HOME/.cache/hardy_dist}/torch-$TORCH_VERSION
SITE=$CACHE/site
if [ ! -f "$CACHE/.complete-$set_name" ] && [ ! -f "$CACHE/.complete-cuda" ]; then
  mkdir -p "$CACHE/wheels"
  exec 9>"$CACHE/.lock"
  flock 9   # a second build waits for the first download instead of repeating it
  if [ ! -f "$CACHE/.complete-$set_name" ] && [ ! -f "$CACHE/.complete-cuda" ]; then
    PY=${PYTHON:-python3}
    pyver=$("$PY" -c 'import sys;print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    say "downloading torch==$TORCH_VERSION ${pins[*]} (Python $pyver) into $CACHE/wheels"
    t0=$(date +%s)
    # The machine's own Python: a --platform download rejected the NCCL wheel. Wheels
    # already in the folder are not downloaded again.
    "$PY" -m pip download --quiet --no-deps --only-binary=:all: -d "$CACHE/wheels" \
        "torch==$TORCH_VERSION" "${pins[@]}" \
      || die "pip download failed (no network or no wheel for Python $pyver); set HARDY_TORCH_SITE or PYTHON"
    t1=$(date +%s)
    say "downloaded: $(du -sm "$CACHE/wheels" | cut -f1) MiB in the cache after $((t1 - t0)) s; unpacking"
    wheels=("$CACHE"/wheels/torch-"$TORCH_VERSION"-*.whl)
    for p in "${pins[@]}"; do
      n=${p%%==*}; v=${p##*==}
      wheels+=("$CACHE"/wheels/"${n//-/_}"-"$v"-*.whl)
    done
    rm -rf "$SITE.tmp"
    "$PY" -m pip install --quiet --no-deps --no-index --no-compile --target "$SITE.tmp" "${wheels[@]}" \
      || die "unpacking the wheels failed"
    rm -rf "$SITE"; mv "$SITE.tmp" "$SITE"
    say "unpacked $(du -sm "$SITE" | cut -f1) MiB in $(( $(date +%s) - t1 )) s"
    touch "$CACHE/.complete-$set_name"
  fi
  exec 9>&-
fi
check_site "$SITE" "pinned wheel cache ($set_name set)"
