#!/usr/bin/env bash
# Installs missing Debian packages, then configures and builds hardy_dist in Release.
#   scripts/build.sh [cmake args]          -> build/ against Debian's LibTorch (CPU)
#   scripts/build.sh --cuda [cmake args]   -> build-cuda/ against a CUDA LibTorch from
#       scripts/torch.sh (the user's PyTorch if it is a CUDA one, else the pinned PyPI
#       wheels, downloaded once into ~/.cache/hardy_dist), with HARDY_WITH_CUDA and
#       HARDY_WITH_NCCL on (NCCL from the wheel beside torch). Compiles and links
#       without a GPU; running the CUDA paths needs one (scripts/gpu-check.sh).
# BUILD_DIR overrides the folder, JOBS the parallelism (default: nproc). ccache is used
# when installed. Extra arguments go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
cuda=0
if [ "${1:-}" = "--cuda" ]; then cuda=1; shift; fi
./scripts/install-deps.sh
JOBS=${JOBS:-$(nproc)}
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
if [ "$cuda" = 1 ]; then
  BUILD_DIR=${BUILD_DIR:-build-cuda}
  site=$(./scripts/torch.sh --cuda)
  export PATH="$PATH:/usr/local/cuda/bin"     # find_package(Torch) enables CUDA: needs nvcc
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" \
        -DCMAKE_PREFIX_PATH="$site/torch" -DHARDY_ENABLE_CUDA=ON "$@"
else
  BUILD_DIR=${BUILD_DIR:-build}
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" "$@"
fi
cmake --build "$BUILD_DIR" -j "$JOBS"
