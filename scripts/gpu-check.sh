#!/usr/bin/env bash
# The one command for a machine with a GPU (issue 11 item 10): builds hardy_dist against
# that machine's CUDA PyTorch, using the Debian packages that scripts/fetch-gpu-debs.sh
# packed into .gpu-debs/prefix.tar.xz (unpacked into a local prefix, never into /), then
# runs the GPU checks, each with its own time-out, and writes one summary line per check
# to $OUT/summary.md AS EACH FINISHES (full logs: $OUT/logs.tar.gz), so a run cut short
# still returns what it did. A failing check is recorded and the script goes on.
#
# Why: GPU time is scarce (minutes per attempt) and the GPU machines have a CUDA
# PyTorch, nvcc, cmake and ninja but no MPI, FAISS, HDF5, Boost, toml++, spdlog, fmt,
# GTest and no network. Every path problem must fail here loudly, not cost a rerun.
#
# Usage (from the repository root):
#   scripts/gpu-check.sh [--dry-run] [--no-gpu] [--budget SECONDS] [--jobs N]
#   --dry-run  print the plan (environment, cmake line, checks) and exit; runs anywhere
#   --exec CMD...  run CMD in the relocated environment (after a run unpacked the prefix),
#              e.g. scripts/gpu-check.sh --exec mpirun -np 2 build-gpu/hardy_dist env
#   --no-gpu   CPU rehearsal: same build and checks with training.device=cpu, GPU-only
#              checks reported as SKIPPED (default when nvidia-smi sees no GPU)
# Environment: OUT (default ./gpu-check-out), PYTHON (default /opt/torch/.venv/bin/python3
#   if present, else python3), HARDY_TORCH_SITE (folder holding torch/ and nvidia/;
#   default: from PYTHON), HARDY_GPU_DEBS (default .gpu-debs/prefix.tar.xz),
#   HARDY_GPU_WORK (default .gpu-work: prefix, runs, logs), BUILD_DIR (default build-gpu),
#   HARDY_GPU_KEEP_FALLBACK=1 (keep packed runtime libraries the system also has),
#   CTEST_EXCLUDE (regex of slow tests to skip; default data_parallel_test),
#   HARDY_GPU_TRAIN_EXTRA (more train args, e.g. "--set training.student_epochs=2"),
#   CTEST_REGEX (only tests matching it), HARDY_GPU_TEST_TARGETS (build only these test
#   targets), HARDY_GPU_TIMEOUT_SCALE (multiply every time-out, for slow rehearsal machines).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DRY=0; MODE=auto; BUDGET=${HARDY_GPU_BUDGET:-420}; JOBS=${JOBS:-$(nproc)}; RUN_CHECK=""; EXEC=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --run-check) RUN_CHECK=$2; shift ;;   # internal: one check in a child process
    --exec) shift; EXEC=("$@"); break ;;  # run a command in the relocated environment
    --gpu) MODE=gpu ;;
    --no-gpu|--cpu) MODE=cpu ;;
    --budget) BUDGET=$2; shift ;;
    --jobs) JOBS=$2; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "gpu-check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

START=$(date +%s)
OUT=${OUT:-$ROOT/gpu-check-out}
WORK=${HARDY_GPU_WORK:-$ROOT/.gpu-work}
PREFIX=$WORK/prefix
U=$PREFIX/usr
L=$U/lib/x86_64-linux-gnu
LOGS=$WORK/logs
RUNS=$WORK/runs
BUILD=${BUILD_DIR:-build-gpu}
TARBALL=${HARDY_GPU_DEBS:-$ROOT/.gpu-debs/prefix.tar.xz}
CTEST_EXCLUDE=${CTEST_EXCLUDE:-data_parallel}  # both data-parallel tests: too long for the ctest check; dp-cuda runs one
if [ -z "${PYTHON:-}" ]; then
  if [ -x /opt/torch/.venv/bin/python3 ]; then PYTHON=/opt/torch/.venv/bin/python3; else PYTHON=python3; fi
fi
PYBIN=$(dirname "$(command -v "$PYTHON" || echo "$PYTHON")")
export PATH="$PYBIN:$U/bin:$PATH"               # the venv's cmake/ninja; the packed mpirun
[ -d /usr/local/cuda/bin ] && export PATH="$PATH:/usr/local/cuda/bin"
if [ "$MODE" = auto ]; then
  if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then MODE=gpu; else MODE=cpu; fi
fi
DEVICE=cuda; [ "$MODE" = cpu ] && DEVICE=cpu

# Python without our library path (the packed libraries are for hardy_dist and MPI).
py() { env -u LD_LIBRARY_PATH "$PYTHON" "$@"; }
if [ -z "${HARDY_TORCH_SITE:-}" ]; then
  p=$(py -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' 2>/dev/null || true)
  [ -n "$p" ] && HARDY_TORCH_SITE=$(cd "$p/../../.." && pwd)
fi
export HARDY_TORCH_SITE=${HARDY_TORCH_SITE:-}
TORCH_SITE=${HARDY_TORCH_SITE:-}

# ---- the relocated environment (Open MPI, PMIx, libraries) ----
setup_env() {
  export LD_LIBRARY_PATH="$L:$L/openmpi/lib:$L/pmix2/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  # Open MPI 4.1 (Debian: prefix /usr, libdir .../openmpi/lib, sysconfdir /etc/openmpi)
  export OPAL_PREFIX=$U OPAL_EXEC_PREFIX=$U OPAL_BINDIR=$U/bin OPAL_SBINDIR=$U/sbin
  export OPAL_LIBDIR=$L/openmpi/lib OPAL_INCLUDEDIR=$L/openmpi/include
  export OPAL_PKGLIBDIR=$L/openmpi/lib/openmpi3 OPAL_PKGINCLUDEDIR=$L/openmpi/include/openmpi
  export OPAL_DATAROOTDIR=$U/share OPAL_DATADIR=$U/share OPAL_PKGDATADIR=$U/share/openmpi
  export OPAL_SYSCONFDIR=$PREFIX/etc/openmpi OPAL_LIBEXECDIR=$U/libexec
  export OPAL_LOCALSTATEDIR=$WORK/var OPAL_SHAREDSTATEDIR=$WORK/com
  export OMPI_MCA_mca_base_component_path=$L/openmpi/lib/openmpi3
  # PMIx 4 (Debian: /usr/lib/x86_64-linux-gnu/pmix2)
  export PMIX_INSTALL_PREFIX=$L/pmix2 PMIX_PREFIX=$L/pmix2 PMIX_LIBDIR=$L/pmix2/lib
  export PMIX_PKGLIBDIR=$L/pmix2/lib/pmix PMIX_MCA_mca_base_component_path=$L/pmix2/lib/pmix
  export PMIX_MCA_gds=hash                         # no shared-memory dstore in containers
  # one node, as root, in a container: shared memory, no ptrace single copy, no IB/UCX
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  export OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
  export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_hwloc_base_binding_policy=none
  # One node: launch locally. Without this, no ssh (usual in containers) kills both mpirun
  # ("plm_rsh_agent: ssh : rsh ... could not be found") and MPI_Init's singleton daemon.
  export OMPI_MCA_plm=${OMPI_MCA_plm:-isolated}
  export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
  # nvcc: PATH, /usr/local/cuda, else a pip nvidia-cuda-nvcc beside torch
  if ! command -v nvcc >/dev/null; then
    local n; n=$(ls "$TORCH_SITE"/nvidia/*/bin/nvcc 2>/dev/null | head -1 || true)
    if [ -n "$n" ]; then export PATH="$PATH:$(dirname "$n")" CUDACXX=$n; fi
  fi
  return 0
}

CMAKE_ARGS=(
  -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release
  -DCMAKE_PREFIX_PATH="$TORCH_SITE/torch;$U"
  -DCMAKE_POLICY_VERSION_MINIMUM=3.5                 # Debian's 2022 CMake packages under CMake 4
  -DHARDY_BUILD_BENCH=OFF -DHARDY_PYTHON="$PYTHON"
  -DBLA_VENDOR=OpenBLAS
  -DMPI_C_COMPILER=/nonexistent-mpicc                # no wrapper: the hints below
  -DMPI_C_HEADER_DIR="$L/openmpi/include" -DMPI_C_LIB_NAMES=mpi
  -DMPI_mpi_LIBRARY="$L/openmpi/lib/libmpi.so" -DMPIEXEC_EXECUTABLE="$U/bin/orterun"
  -DHDF5_NO_FIND_PACKAGE_CONFIG_FILE=ON -DHDF5_C_COMPILER_EXECUTABLE=/nonexistent-h5cc
  -DHDF5_C_INCLUDE_DIR="$U/include/hdf5/serial" -DHDF5_C_LIBRARY_hdf5="$L/hdf5/serial/libhdf5.so"
  -DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$L:$L/openmpi/lib:$L/pmix2/lib"
  -DCMAKE_SHARED_LINKER_FLAGS="-Wl,-rpath-link,$L:$L/openmpi/lib:$L/pmix2/lib"
)
B=$ROOT/$BUILD/hardy_dist
CORPUS=$RUNS/corpus.h5
TRAIN=(train --config configs/demo.toml --set "data.corpus=$CORPUS" --set "data.folds=[0]"
       --set "training.device=$DEVICE" ${HARDY_GPU_TRAIN_EXTRA:-})

# ---- checks: each a function; its last "RESULT: ..." line goes into the summary ----
c_gpu() { nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv;
          echo "RESULT: $(nvidia-smi -L | head -1)"; }
c_torch() {
  py - <<'EOF'
import torch, os
print("torch", torch.__version__, "cuda", torch.version.cuda, "cxx11abi", torch._C._GLIBCXX_USE_CXX11_ABI)
print("cmake_prefix_path", torch.utils.cmake_prefix_path)
avail = torch.cuda.is_available()
nccl = ".".join(map(str, torch.cuda.nccl.version())) if avail else "n/a"
dev = torch.cuda.get_device_name(0) if avail else "no GPU"
print(f"RESULT: torch {torch.__version__} CUDA {torch.version.cuda} ABI1={torch._C._GLIBCXX_USE_CXX11_ABI} NCCL {nccl} {dev}")
EOF
}
c_prefix() {
  [ -f "$TARBALL" ] || { echo "no $TARBALL: run scripts/fetch-gpu-debs.sh on a Debian 12 machine and carry .gpu-debs"; return 1; }
  rm -rf "$PREFIX"; mkdir -p "$PREFIX"
  if command -v xz >/dev/null; then
    tar -C "$PREFIX" -xJf "$TARBALL"
  else   # no xz binary in a minimal image: Python's lzma
    py -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], **({"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}))' "$TARBALL" "$PREFIX"
  fi
  local kept=all dropped=0 so
  if [ "${HARDY_GPU_KEEP_FALLBACK:-0}" != 1 ]; then
    kept=0
    local cache; cache=$( (ldconfig -p 2>/dev/null || /sbin/ldconfig -p) | awk '{print $1}' | sort -u)
    while read -r f; do
      so=$(basename "$f")
      if grep -qx "$so" <<<"$cache"; then rm -f "$PREFIX/$f"; dropped=$((dropped+1)); else kept=$((kept+1)); fi
    done < "$PREFIX/FALLBACK_FILES"
  fi
  # Debian's faiss-targets.cmake names /usr/lib/x86_64-linux-gnu/lib{blas,lapack}.so literally.
  grep -rl 'INTERFACE_LINK_LIBRARIES.*/usr/lib/x86_64-linux-gnu/' "$L/cmake" | while read -r f; do
    sed -i "/INTERFACE_LINK_LIBRARIES/ s|/usr/lib/x86_64-linux-gnu/|$L/|g" "$f"; echo "relocated link paths in $f"
  done
  echo "packages: $(wc -l < "$PREFIX/MANIFEST")"
  echo "RESULT: unpacked $(du -sm "$PREFIX" | cut -f1) MiB; fallback sonames the system has (dropped): $dropped, kept: $kept"
}
c_configure() {
  [ -n "$TORCH_SITE" ] && [ -f "$TORCH_SITE/torch/share/cmake/Torch/TorchConfig.cmake" ] \
    || { echo "no PyTorch found (PYTHON=$PYTHON, HARDY_TORCH_SITE=$TORCH_SITE)"; return 1; }
  cmake --version | head -1; command -v ninja; c++ --version | head -1; command -v nvcc && nvcc --version | tail -1
  cmake "${CMAKE_ARGS[@]}" | tee "$WORK/configure.txt"
  # Everything but torch/CUDA must come from the prefix, not from the system.
  local bad
  bad=$(grep -E '^(MPI_C_HEADER_DIR|MPI_mpi_LIBRARY|HDF5_C_INCLUDE_DIR|HDF5_C_LIBRARY_hdf5|Boost_DIR|faiss_DIR|fmt_DIR|spdlog_DIR|tomlplusplus_DIR|GTest_DIR|BLAS_openblas_LIBRARY|MPIEXEC_EXECUTABLE)[:=]' \
        "$BUILD/CMakeCache.txt" | grep -v "$PREFIX" || true)
  [ -z "$bad" ] || { echo "NOT FROM THE PREFIX:"; echo "$bad"; return 1; }
  bad=$(grep -ohE '(^|[ ;"])/usr/(lib|include)/[^ ;"]*(blas|lapack|mpi|hdf5|faiss|boost|fmt|spdlog|toml|gtest|gmock|pmix|hwloc)[^ ;"]*' \
        "$BUILD/build.ninja" | sort -u || true)
  [ -z "$bad" ] || { echo "SYSTEM PATHS IN build.ninja (must come from the prefix):"; echo "$bad"; return 1; }
  echo "RESULT: $(grep -o 'hardy_dist: NCCL=.*' "$WORK/configure.txt" | tail -1)"
}
c_build_app() { cmake --build "$BUILD" -j "$JOBS" --target hardy_dist; echo "RESULT: hardy_dist built"; }
c_ldd() {
  ldd "$B" > "$WORK/ldd.txt"; cat "$WORK/ldd.txt"
  local nf nccl cudart
  nf=$(grep -c 'not found' "$WORK/ldd.txt" || true)
  nccl=$(grep -E 'libnccl' "$WORK/ldd.txt" | awk '{print $3}' | sort -u)
  cudart=$(grep -oE 'libcudart\.so\.[0-9]+' "$WORK/ldd.txt" | sort -u)
  echo "RESULT: not-found=$nf libnccl=[$(echo $nccl)] cudart=[$(echo $cudart)]"
  [ "$nf" = 0 ] && [ "$(echo "$nccl" | grep -c .)" -le 1 ] && [ "$(echo "$cudart" | grep -c .)" -le 1 ]
}
c_version() {
  LD_BIND_NOW=1 "$B" version; "$B" env
  echo "RESULT: $("$B" version | grep -E 'LibTorch|NCCL' | tr -s ' ' | tr '\n' ';')"
}
c_synth() { "$B" synth --config configs/demo.toml --set "synth.out=$CORPUS"; echo "RESULT: corpus $(du -k "$CORPUS" | cut -f1) KiB"; }
# train with wall time, GPU memory sampling and steps/s from timings.json
train_measured() {  # $1 = name, rest = launcher + args
  local name=$1; shift
  local mem=$WORK/mem-$name.csv sampler=""
  if [ "$MODE" = gpu ]; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 250 > "$mem" 2>/dev/null &
    sampler=$!
  fi
  local t0 t1 rc=0
  t0=$(date +%s.%N)
  "$@" || rc=$?
  t1=$(date +%s.%N)
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
  local peak="n/a"
  [ -s "$mem" ] && peak="$(sort -n "$mem" | tail -1) MiB"
  local steps
  steps=$(py - "$RUNS/$name/timings.json" <<'EOF' 2>/dev/null || echo "no timings.json"
import json, sys
t = json.load(open(sys.argv[1]))
parts = []
for k, v in t["stages"].items():
    s = v["data_s"] + v["compute_s"] + v["grad_sync_s"] + v["exchange_s"]
    if v["steps"]: parts.append(f"{k} {v['steps']/s:.1f}/s")
print(f"ranks {t['ranks']}: " + ", ".join(parts))
EOF
)
  cp "$RUNS/$name/timings.json" "$LOGS/timings-$name.json" 2>/dev/null || true
  cp "$RUNS/$name/results.md" "$LOGS/results-$name.md" 2>/dev/null || true
  echo "RESULT: rc=$rc wall $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s; peak GPU mem $peak; steps/s: $steps"
  return $rc
}
c_demo_p1() { train_measured g1 "$B" "${TRAIN[@]}" --set "output.dir=$RUNS/g1"; }
MPIRUN=(mpirun --allow-run-as-root --oversubscribe)
c_mpi_np2() {
  train_measured g2 "${MPIRUN[@]}" -np 2 "$B" "${TRAIN[@]}" --set dist.backend=mpi \
    --set dist.checksum_every=1 --set "output.dir=$RUNS/g2"
}
c_resume() {
  local k=${KILL_AFTER:-20} rc=0
  timeout -s KILL "$k" "$B" "${TRAIN[@]}" --set "output.dir=$RUNS/g4" || rc=$?
  echo "first run: rc=$rc (137 = killed after ${k}s as intended)"
  ls "$RUNS/g4" || true
  local rc2=0
  "$B" "${TRAIN[@]}" --set "output.dir=$RUNS/g4" || rc2=$?
  cp "$RUNS/g4/results.md" "$LOGS/results-g4.md" 2>/dev/null || true
  if [ "$rc" != 137 ]; then
    echo "RESULT: NOT KILLED (first run ended rc=$rc within ${k}s): resume untested; second run rc=$rc2"; return 1
  fi
  echo "RESULT: killed after ${k}s (rc=137), resumed rc=$rc2"
  [ "$rc2" = 0 ]
}
c_nccl_np1() {
  local rc=0 rc2=0
  # CUDA gradient synchronisation over NCCL (tests/dist/cuda_sync_test.cpp)
  HARDY_TEST_BACKEND=nccl NCCL_DEBUG=WARN \
    "${MPIRUN[@]}" -np 1 "$ROOT/$BUILD/tests/cuda_sync_test" || rc=$?
  NCCL_DEBUG=INFO "${MPIRUN[@]}" -np 1 "$B" "${TRAIN[@]}" --set dist.backend=nccl \
    --set "output.dir=$RUNS/g5" || rc2=$?
  echo "RESULT: cuda_sync_test(nccl) rc=$rc; train -np 1 backend=nccl rc=$rc2"
  [ "$rc" = 0 ] && [ "$rc2" = 0 ]
}
c_nccl_np2() {
  local v; v=$(cat "$WORK/nccl_version" 2>/dev/null || true)
  if [ "${v:-0}" -lt 23000 ]; then echo "RESULT: SKIPPED: NCCL $v < 2.30 refuses two ranks on one GPU"; return 0; fi
  NCCL_MULTI_RANK_GPU_ENABLE=1 NCCL_DEBUG=INFO train_measured g6 "${MPIRUN[@]}" -np 2 "$B" "${TRAIN[@]}" \
    --set dist.backend=nccl --set "output.dir=$RUNS/g6"
}
c_build_tests() {
  # HARDY_GPU_TEST_TARGETS: only these targets (e.g. "mpi_smoke_test cli_test") when time is short
  if [ -n "${HARDY_GPU_TEST_TARGETS:-}" ]; then
    cmake --build "$BUILD" -j "$JOBS" --target $HARDY_GPU_TEST_TARGETS
    echo "RESULT: built $HARDY_GPU_TEST_TARGETS"
  else
    cmake --build "$BUILD" -j "$JOBS"; echo "RESULT: all targets built"
  fi
}
c_ctest() {
  local rc=0
  ctest --test-dir "$BUILD" -j "$JOBS" --timeout "${CTEST_TIMEOUT:-120}" --output-on-failure \
    -E "$CTEST_EXCLUDE" ${CTEST_REGEX:+-R "$CTEST_REGEX"} 2>&1 | tee "$WORK/ctest.txt" || rc=$?
  local line failed
  line=$(grep -E 'tests passed' "$WORK/ctest.txt" | tail -1 || true)
  failed=$(sed -n '/The following tests FAILED/,$p' "$WORK/ctest.txt" | grep -oE '[0-9]+ - [^ ]+' | awk '{print $3}' | tr '\n' ' ' || true)
  echo "RESULT: ${line:-no summary (rc=$rc)}; excluded /$CTEST_EXCLUDE/${CTEST_REGEX:+, only /$CTEST_REGEX/}${failed:+; FAILED: $failed}"
  return $rc
}

# The data-parallel test with CUDA training: P = 1, 2, 3 equivalence, kill -9 and
# SIGSTOP of a rank, the killed GPU run resumed on the CPU (tests/train/data_parallel_test.py).
c_dp_cuda() {
  local rc=0
  ctest --test-dir "$BUILD" --timeout 320 --output-on-failure -R '^data_parallel_cuda_test$' 2>&1 \
    | tee "$WORK/dp-cuda.txt" || rc=$?
  echo "RESULT: $(grep -E 'tests passed|tests failed' "$WORK/dp-cuda.txt" | tail -1) (rc=$rc)"
  return $rc
}

# name timeout(s) gpu-only(1/0) function
CHECKS=(
  "gpu 20 1 c_gpu"
  "torch 60 0 c_torch"
  "prefix 60 0 c_prefix"
  "configure 120 0 c_configure"
  "build-hardy_dist 300 0 c_build_app"
  "ldd 20 0 c_ldd"
  "version-env 30 0 c_version"
  "synth 60 0 c_synth"
  "demo-P1 150 0 c_demo_p1"
  "mpi-np2-checksum 150 0 c_mpi_np2"
  "kill-resume 150 0 c_resume"
  "nccl-np1 120 1 c_nccl_np1"
  "nccl-np2 120 1 c_nccl_np2"
  "build-tests 240 0 c_build_tests"
  "ctest 200 0 c_ctest"
  "dp-cuda 330 1 c_dp_cuda"
)

if [ "$DRY" = 1 ]; then
  cat <<EOF
gpu-check plan (mode: $MODE, budget ${BUDGET}s, -j$JOBS)
  python:       $PYTHON   torch site: ${TORCH_SITE:-<not found: set PYTHON or HARDY_TORCH_SITE>}
  packed debs:  $TARBALL $( [ -f "$TARBALL" ] && du -m "$TARBALL" | cut -f1 || echo MISSING) MiB -> $PREFIX
  build:        $BUILD   out: $OUT (summary.md, logs.tar.gz)
  cmake $(printf '%q ' "${CMAKE_ARGS[@]}")
  demo:         $B $(printf '%q ' "${TRAIN[@]}")
checks (each: own time-out, summary line as it finishes; GPU-only ones skipped with --no-gpu):
EOF
  i=0
  for c in "${CHECKS[@]}"; do
    set -- $c; i=$((i+1))
    printf '  %2d. %-18s timeout %4ss%s  (%s)\n' "$i" "$1" "$2" "$([ "$3" = 1 ] && echo ', GPU only' || true)" "$4"
  done
  exit 0
fi

if [ ${#EXEC[@]} -gt 0 ]; then setup_env; exec "${EXEC[@]}"; fi
mkdir -p "$OUT" "$LOGS" "$RUNS"
if [ -n "$RUN_CHECK" ]; then
  setup_env
  "$RUN_CHECK"
  exit $?
fi
SUMMARY=$OUT/summary.md
{
  echo "# gpu-check $(date -u +%FT%TZ) on $(uname -n) (mode $MODE, budget ${BUDGET}s, -j$JOBS)"
  echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?') $(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo '(dirty)' || true)"
  echo
  echo "| # | check | status | s | result |"
  echo "|---|---|---|---|---|"
} > "$SUMMARY"
pack_logs() { tar -C "$WORK" -czf "$OUT/logs.tar.gz.tmp" logs 2>/dev/null && mv "$OUT/logs.tar.gz.tmp" "$OUT/logs.tar.gz" || true; }

i=0; failed=0; hard_fail=""
for c in "${CHECKS[@]}"; do
  set -- $c; i=$((i+1)); name=$1; t=$2; gpu_only=$3; fn=$4
  log=$LOGS/$(printf %02d "$i")-$name.log
  left=$(( BUDGET - ($(date +%s) - START) ))
  status=""; res=""
  if [ "$gpu_only" = 1 ] && [ "$MODE" != gpu ]; then status=SKIPPED; res="no GPU (--no-gpu)"
  elif [ -n "$hard_fail" ]; then status=SKIPPED; res="needs $hard_fail, which failed"
  elif [ "$left" -lt 15 ]; then status=SKIPPED; res="budget of ${BUDGET}s used up"
  fi
  if [ -n "$status" ]; then
    echo "| $i | $name | $status | 0 | $res |" >> "$SUMMARY"; echo "gpu-check: [$i] $name $status ($res)"
    continue
  fi
  t=$(( t * ${HARDY_GPU_TIMEOUT_SCALE:-1} ))     # a slow rehearsal machine: scale the time-outs
  [ "$t" -gt $((left - 5)) ] && t=$((left - 5))
  # kill-and-resume: kill at about a third of the P=1 demo's wall time
  if [ "$name" = kill-resume ]; then
    w=$(grep -oE 'wall [0-9.]+' "$LOGS"/*-demo-P1.log 2>/dev/null | tail -1 | awk '{printf "%d", $2/3}')
    export KILL_AFTER=$(( ${w:-20} < 8 ? 8 : ${w:-20} ))
  fi
  echo "gpu-check: [$i] $name (time-out ${t}s) ..."
  t0=$(date +%s); rc=0
  timeout -k 10 "$t" "$0" "--$MODE" --jobs "$JOBS" --run-check "$fn" > "$log" 2>&1 < /dev/null || rc=$?
  dt=$(( $(date +%s) - t0 ))
  res=$(grep '^RESULT:' "$log" | tail -1 | sed 's/^RESULT: *//; s/|/\\|/g' || true)
  if [ "$rc" = 0 ]; then status=PASS
  elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then status="TIMEOUT(${t}s)"; failed=$((failed+1))
  else status="FAIL(rc=$rc)"; failed=$((failed+1))
  fi
  [ "$status" = PASS ] || res="$res $(grep -vE '^\s*$' "$log" | grep -v '^RESULT:' | tail -2 | tr '\n|' ' /' | cut -c1-300 || true)"
  echo "| $i | $name | $status | $dt | $res |" >> "$SUMMARY"
  echo "gpu-check: [$i] $name $status ${dt}s: $res"
  # later checks are meaningless without these
  case "$name" in prefix|configure|build-hardy_dist) [ "$status" = PASS ] || hard_fail=$name ;; esac
  [ "$name" = torch ] && py -c 'import torch;v=torch.cuda.nccl.version();print(v[0]*10000+v[1]*100+v[2])' \
      > "$WORK/nccl_version" 2>/dev/null || true
  pack_logs
done
echo >> "$SUMMARY"
echo "total $(( $(date +%s) - START )) s; $failed check(s) not passed" >> "$SUMMARY"
pack_logs
cat "$SUMMARY"
exit 0
