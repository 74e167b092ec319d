#!/usr/bin/env bash
# Runs hardy_dist data-parallel under Open MPI's mpirun on this machine (or on the
# hosts of --hostfile): one rank per group of --threads cores, each rank bound to its
# cores, OpenBLAS pinned to one thread, LibTorch/OpenMP to --threads.
#
#   launch/mpirun.sh [-n RANKS] [--threads T] [--hostfile FILE] [--dry-run] [--] \
#       hardy_dist --config configs/iemocap4.toml [more hardy_dist arguments]
#
#   -n RANKS       ranks (default: the number of GPUs when nvidia-smi sees any,
#                  else cores / threads)
#   --threads T    LibTorch threads per rank (default 1); sets training.threads
#   --hostfile F   passed to mpirun (multi-node)
#   --dry-run      print the mpirun command instead of running it
#   MPIRUN_ARGS    extra mpirun arguments, from the environment
# When RANKS × T exceeds the cores, ranks are not bound (--oversubscribe).
set -euo pipefail

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

ranks="" threads=1 hostfile="" dry_run=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n|-np|--np) ranks="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --hostfile) hostfile="$2"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
if [[ $# -eq 0 ]]; then
  echo "launch/mpirun.sh: no command given (e.g. -- build/hardy_dist --config configs/demo.toml)" >&2
  usage >&2
  exit 2
fi
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || { echo "launch/mpirun.sh: --threads must be a positive integer, got '$threads'" >&2; exit 2; }

cores=$(nproc)
if [[ -z "$ranks" ]]; then
  gpus=0
  if command -v nvidia-smi > /dev/null 2>&1; then gpus=$(nvidia-smi -L 2> /dev/null | grep -c '^GPU' || true); fi
  if [[ "$gpus" -gt 0 ]]; then ranks=$gpus; else ranks=$(( cores / threads > 0 ? cores / threads : 1 )); fi
fi
[[ "$ranks" =~ ^[1-9][0-9]*$ ]] || { echo "launch/mpirun.sh: -n must be a positive integer, got '$ranks'" >&2; exit 2; }

cmd=(mpirun -np "$ranks")
[[ $EUID -eq 0 ]] && cmd+=(--allow-run-as-root)
[[ -n "$hostfile" ]] && cmd+=(--hostfile "$hostfile")
if [[ -z "$hostfile" && $(( ranks * threads )) -gt $cores ]]; then
  cmd+=(--oversubscribe --bind-to none)
else
  cmd+=(--map-by "slot:PE=$threads" --bind-to core)
fi
cmd+=(-x OPENBLAS_NUM_THREADS=1 -x "OMP_NUM_THREADS=$threads")
# shellcheck disable=SC2206
[[ -n "${MPIRUN_ARGS:-}" ]] && cmd+=($MPIRUN_ARGS)
cmd+=("$@")
# LibTorch threads per rank, unless the command sets them itself.
if [[ " $* " != *"training.threads"* && " $* " != *"--threads"* ]]; then
  cmd+=(--set "training.threads=$threads")
fi

if [[ $dry_run -eq 1 ]]; then
  printf '%q ' "${cmd[@]}"; echo
  exit 0
fi
exec "${cmd[@]}"
