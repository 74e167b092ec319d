#!/usr/bin/env bash
# Every test: builds hardy_dist and its tests in Release (installing missing Debian
# packages first), then runs the whole suite with ctest, multi-rank tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j "$(nproc)"
