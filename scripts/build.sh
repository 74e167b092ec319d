#!/usr/bin/env bash
# Installs missing Debian packages, provides a current LibTorch, then configures and
# builds hardy_dist and its tests in Release under build/.
#
#   scripts/build.sh [--cpu | --cuda] [cmake args]
#
# LibTorch comes from scripts/torch.sh: $HARDY_TORCH_SITE, else the PyTorch of your
# Python environment, else the pinned PyPI wheel downloaded once into
# ~/.cache/hardy_dist (one pin for every build).
#   (default)  CUDA on when that LibTorch is a CUDA build and a CUDA toolkit (nvcc) is
#              installed: HARDY_WITH_CUDA and HARDY_WITH_NCCL (NCCL from the wheel
#              beside torch). It compiles, links and runs its CPU paths without a GPU.
#              Otherwise a CPU-only build.
#   --cpu      CPU only: links libtorch_cpu and libc10 alone, needs no CUDA toolkit, and
#              downloads only torch plus the CUDA runtime and CUPTI libraries that
#              libtorch_cpu.so loads (no NCCL, cuDNN, ...).
#   --cuda     require the CUDA build (fail if it cannot be made).
# BUILD_DIR overrides the folder, JOBS the parallelism (default: nproc). ccache is used
# when installed. Extra arguments go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=auto
case "${1:-}" in
  --cuda) mode=cuda; shift ;;
  --cpu) mode=cpu; shift ;;
  -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
esac
./scripts/install-deps.sh
JOBS=${JOBS:-$(nproc)}
BUILD_DIR=${BUILD_DIR:-build}
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

nvcc_found() { command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; }
case "$mode" in
  cuda) site=$(./scripts/torch.sh --cuda) ;;
  cpu)  site=$(./scripts/torch.sh --cpu) ;;
  auto) site=$(./scripts/torch.sh) ;;
esac
cuda_of_site=$(sed -n "s/^cuda[^=]*= *'\{0,1\}\([^']*\)'\{0,1\}.*/\1/p" "$site/torch/version.py" 2>/dev/null | head -1)
if [ "$mode" = auto ]; then
  if nvcc_found && [ -n "$cuda_of_site" ] && [ "$cuda_of_site" != None ] && [ -d "$site/nvidia/nccl/lib" ]; then
    mode=cuda
  else
    mode=cpu
  fi
fi
flags=(-DCMAKE_BUILD_TYPE=Release "${launcher[@]}" -DCMAKE_PREFIX_PATH="$site/torch")
if [ "$mode" = cuda ]; then
  export PATH="$PATH:/usr/local/cuda/bin"     # find_package(Torch) enables CUDA: needs nvcc
  flags+=(-DHARDY_ENABLE_CUDA=ON -DHARDY_TORCH_CPU_ONLY=OFF)
else
  flags+=(-DHARDY_ENABLE_CUDA=OFF -DHARDY_TORCH_CPU_ONLY=ON)
fi
echo "build.sh: $mode build of hardy_dist in $BUILD_DIR/ against $site/torch" >&2
cmake -S . -B "$BUILD_DIR" "${flags[@]}" "$@"
cmake --build "$BUILD_DIR" -j "$JOBS"
