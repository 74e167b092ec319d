#!/usr/bin/env python3
"""The launchers' command lines, run locally.

- launch/mpirun.sh: the mpirun command it builds (binding, thread variables,
  oversubscription), and a real 2-rank run of `hardy_dist env` through it, where
  each rank must see its Open MPI rank and local rank.
- launch/slurm/hardy.sbatch in a simulated SLURM allocation: SLURM_* variables and a
  fake `srun` that starts SLURM_NTASKS local copies of the command with
  SLURM_PROCID/SLURM_LOCALID set, the way srun does. Each copy of `hardy_dist env`
  must report its SLURM rank. Also the mpirun-inside-the-allocation variant, and
  the errors for a missing command and for running outside an allocation.
Environment: HARDY_DIST_BIN, HARDY_SOURCE_DIR.
"""
import os
import re
import subprocess
import sys
import tempfile

BIN = os.environ["HARDY_DIST_BIN"]
SRC = os.environ["HARDY_SOURCE_DIR"]
MPIRUN_SH = os.path.join(SRC, "launch", "mpirun.sh")
SBATCH = os.path.join(SRC, "launch", "slurm", "hardy.sbatch")
failures = []


def run(cmd, env=None):
    full = dict(os.environ)
    for k in list(full):  # a clean launcher environment: no inherited job variables
        if k.startswith(("OMPI_", "PMI_", "PMIX_", "SLURM_")):
            del full[k]
    full.update(env or {})
    return subprocess.run(cmd, env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)


def expect(condition, what, output=""):
    if not condition:
        failures.append(what + ("\n--- output ---\n" + output if output else ""))


def ranks_seen(output):
    return sorted((int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4))
                  for m in re.finditer(r"rank (\d+) of (\d+) \(local rank (\d+) of \d+\) via (\w+)", output))


# mpirun.sh: the command it would run.
out = run([MPIRUN_SH, "--dry-run", "-n", "64", "--threads", "2", "--", BIN, "--config", "x.toml"]).stdout
expect("mpirun -np 64" in out, "mpirun.sh -n 64 must ask mpirun for 64 ranks", out)
expect("--oversubscribe --bind-to none" in out, "more rank-threads than cores must not bind", out)
expect("-x OPENBLAS_NUM_THREADS=1" in out and "-x OMP_NUM_THREADS=2" in out, "thread variables", out)
expect("--set training.threads=2" in out, "LibTorch threads per rank must follow --threads", out)
out = run([MPIRUN_SH, "--dry-run", "-n", "1", "--", BIN, "--set", "training.threads=1"]).stdout
expect("--map-by slot:PE=1 --bind-to core" in out, "ranks that fit must be bound to cores", out)
expect(out.count("training.threads") == 1, "an explicit training.threads must not be overridden", out)
res = run([MPIRUN_SH, "-n", "1"])
expect(res.returncode == 2 and "no command given" in res.stdout, "mpirun.sh without a command", res.stdout)

# mpirun.sh: a real 2-rank run.
res = run([MPIRUN_SH, "-n", "2", "--", BIN, "env"])
expect(res.returncode == 0, "mpirun.sh -n 2 hardy_dist env failed", res.stdout)
expect(ranks_seen(res.stdout) == [(0, 2, 0, "openmpi"), (1, 2, 1, "openmpi")],
       "each rank must see its Open MPI rank and local rank", res.stdout)
expect("OPENBLAS_NUM_THREADS 1" in res.stdout and "training.threads 1" in res.stdout,
       "the ranks must get the launcher's thread settings", res.stdout)

# hardy.sbatch in a simulated allocation.
with tempfile.TemporaryDirectory() as tmp:
    log = os.path.join(tmp, "srun.args")
    srun = os.path.join(tmp, "srun")
    with open(srun, "w") as f:
        f.write("""#!/usr/bin/env bash
echo "$@" > "%s"
while [[ "$1" == -* ]]; do shift; done
for ((i = 0; i < SLURM_NTASKS; i++)); do SLURM_PROCID=$i SLURM_LOCALID=$i "$@" & done
wait
""" % log)
    os.chmod(srun, 0o755)
    slurm = {"PATH": tmp + os.pathsep + os.environ["PATH"], "SLURM_JOB_ID": "42", "SLURM_NTASKS": "3",
             "SLURM_NTASKS_PER_NODE": "3", "SLURM_CPUS_PER_TASK": "1", "SLURM_SUBMIT_DIR": SRC,
             "HARDY_DIST": BIN}
    res = run(["bash", SBATCH, "env"], slurm)
    expect(res.returncode == 0, "hardy.sbatch under the simulated allocation failed", res.stdout)
    expect(ranks_seen(res.stdout) == [(0, 3, 0, "slurm"), (1, 3, 1, "slurm"), (2, 3, 2, "slurm")],
           "each task must see its SLURM rank and local rank", res.stdout)
    args = open(log).read() if os.path.exists(log) else ""
    expect("--kill-on-bad-exit=1" in args and "--cpu-bind=cores" in args,
           "srun must end the job when a task fails and bind tasks to cores", args)
    expect("training.threads=1" in args, "tasks get --cpus-per-task LibTorch threads", args)

    res = run(["bash", SBATCH, "--config", "c.toml"],
              dict(slurm, HARDY_LAUNCHER="mpirun", HARDY_DRY_RUN="1", SLURM_NTASKS="8",
                   SLURM_NTASKS_PER_NODE="4(x2)", SLURM_CPUS_PER_TASK="2"))
    expect(res.returncode == 0 and "mpirun -np 8 --map-by ppr:4:node:PE=2 --bind-to core" in res.stdout,
           "mpirun inside the allocation: 4 ranks per node, 2 cores each", res.stdout)

    res = run(["bash", SBATCH], slurm)
    expect(res.returncode == 2 and "give hardy_dist's arguments" in res.stdout, "sbatch without arguments", res.stdout)
    res = run(["bash", SBATCH, "env"], {"HARDY_DIST": BIN, "PATH": os.environ["PATH"]})
    expect(res.returncode != 0 and "inside a SLURM allocation" in res.stdout,
           "sbatch outside an allocation must say so", res.stdout)

if failures:
    sys.exit("\n\n".join(failures))
print("ok")
