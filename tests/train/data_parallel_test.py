#!/usr/bin/env python3
"""The whole pipeline data-parallel: `mpirun -np P hardy_dist train` against one process.

1. Equivalence. A tiny corpus (synthetic, one fold, three conditions) is trained at
   P = 1, 2 and 3 with dropout 0, each P with dist.group_size = P (one group: every
   unit data-parallel over all ranks) and 1 (every rank trains whole units; then
   results.json must equal P = 1's byte for byte, as each unit runs as in one
   process). Stated tolerance (docs/data-parallel.md; results_check.py): every
   metric of results.json within 0.02 absolute of P = 1 (confusion counts within
   the predictions that allows), Spearman(H, planted) and support-label agreement
   within 0.01, the K_q histograms equal, and every epoch loss logged by the units'
   first ranks within 1e-3 relative. (With dropout the masks differ between
   rank counts, so only the statistical agreement of the README's table holds.)
2. Faults and resume. A P = 3 run in three groups of one rank loses rank 1 to kill -9
   while the students train: the job must end within dist.timeout_s with a non-zero
   status and a message naming rank 1. Re-running with P = 2 (another rank count and
   layout) must run only the unfinished units, skip the finished stages, resume the
   interrupted student from its last epoch checkpoint, and end with the results of
   the uninterrupted P = 1 run, within the tolerance above. A SIGSTOP of rank 1
   (alive but silent) must end the job after dist.timeout_s, in one group (the
   surviving ranks' collectives say which one waited) and in groups of one (rank 0
   watches rank 1's heartbeat and says how long it waited).
3. With HARDY_TEST_DEVICE=cuda, all of the above trains on the GPU
   (training.device = "cuda"; dist.backend = "mpi", so several ranks may share one
   GPU), and the killed run resumes on the CPU (a GPU run's checkpoints load on a
   CPU). Without a visible GPU it prints why and exits 77 (ctest: skipped).
Environment: HARDY_DIST_BIN, MPIEXEC, HARDY_TEST_DEVICE (cpu, the default, or cuda).
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

from results_check import compare_results
from hardy_cli import rank_pids, tiny_config

BIN = os.environ["HARDY_DIST_BIN"]
MPIEXEC = os.environ.get("MPIEXEC", "mpirun")
TIMEOUT_S = 8  # dist.timeout_s of the runs
METRIC_TOL, DIAG_TOL, LOSS_RTOL = 0.02, 0.01, 1e-3

DEVICE = os.environ.get("HARDY_TEST_DEVICE", "cpu")
SKIP = 77  # ctest's SKIP_RETURN_CODE for this test


def fail(message, output=""):
    sys.exit(message + ("\n--- output ---\n" + output if output else ""))


def command(np, config, out, group_size=None):
    args = [BIN, "train", "--config", config, "--out", out]
    if group_size is not None:
        args += ["--set", "dist.group_size=%s" % group_size]
    if np == 1:
        return args
    return [MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-np", str(np)] + args


def train(np, config, out, group_size=None):
    proc = subprocess.run(command(np, config, out, group_size), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=600)
    if proc.returncode != 0:
        fail("P = %d exited with %d" % (np, proc.returncode), proc.stdout)
    return proc.stdout


def losses(log):
    """(what, epoch) -> loss, from rank 0's epoch lines."""
    out = {}
    for m in re.finditer(r"(fold \d+ \| [^|]+?) \| epoch (\d+)/\d+ \([^)]*\) \| loss ([0-9.eE+-]+)", log):
        out[(m.group(1), int(m.group(2)))] = float(m.group(3))
    return out


def compare(reference, out, label, ref_log=None, log=None):
    worst = compare_results(reference, out, label, fail, METRIC_TOL, DIAG_TOL)
    if log is not None:
        la, lb = losses(ref_log), losses(log)
        if not la or la.keys() != lb.keys():
            fail("%s: the epoch loss lines differ from P = 1 (%d vs %d)" % (label, len(la), len(lb)), log)
        for key, va in la.items():
            if abs(va - lb[key]) > LOSS_RTOL * max(abs(va), 1e-6):
                fail("%s: loss of %s epoch %d is %r, P = 1 gave %r" % (label, key[0], key[1], lb[key], va), log)
    print("%s: results within tolerance of P = 1 (largest metric difference %.2g)" % (label, worst))


def rank_pid(out, rank):
    """PID of the hardy_dist process of `rank` writing to `out` (from /proc)."""
    return rank_pids(out).get(rank)


def lose_rank_during_students(config, out, sig, group_size):
    proc = subprocess.Popen(command(3, config, out, group_size), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    deadline = time.time() + 300
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "student a | epoch 3/" in line:
            break
    pid = rank_pid(out, 1)
    if pid is None:
        proc.kill()
        fail("did not find rank 1 while the students trained", "".join(lines))
    os.kill(pid, sig)
    began = time.time()
    try:
        rest, _ = proc.communicate(timeout=TIMEOUT_S + 30)
    except subprocess.TimeoutExpired:
        proc.kill()
        rest, _ = proc.communicate()
        fail("the job still ran %d s after rank 1 was lost" % (TIMEOUT_S + 30), "".join(lines) + rest)
    finally:
        if sig != signal.SIGKILL:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    elapsed = time.time() - began
    output = "".join(lines) + rest
    print("%s of rank 1: the job ended %.1f s later with status %d" %
          ("kill -9" if sig == signal.SIGKILL else "SIGSTOP", elapsed, proc.returncode))
    if proc.returncode == 0:
        fail("the job must fail when a rank is lost", output)
    if elapsed > TIMEOUT_S + 10:
        fail("the job took %.1f s to end (dist.timeout_s = %d)" % (elapsed, TIMEOUT_S), output)
    if sig == signal.SIGKILL and "rank 1" not in output:
        fail("the output must name the lost rank (rank 1)", output)
    if sig != signal.SIGKILL and not ("dist.timeout_s" in output and "waited" in output):
        fail("the surviving ranks must say that a collective timed out", output)


def gpu_visible():
    """Whether hardy_dist itself finds a CUDA device (its `env` names the device)."""
    proc = subprocess.run([BIN, "env", "--set", "training.device=cuda"], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    return proc.returncode == 0 and "device cuda" in proc.stdout, proc.stdout.strip()


def main():
    if DEVICE not in ("cpu", "cuda"):
        fail("HARDY_TEST_DEVICE must be cpu or cuda, got %r" % DEVICE)
    if DEVICE == "cuda":
        visible, why = gpu_visible()
        if not visible:
            print("SKIPPED: HARDY_TEST_DEVICE=cuda but hardy_dist sees no GPU (%s)" % why)
            sys.exit(SKIP)
    work = tempfile.mkdtemp(prefix="hardy_dp_")
    config = os.path.join(work, "tiny.toml")
    with open(config, "w") as f:
        f.write(tiny_config(work, 7, synth__min_length=4, synth__max_length=12, training__finetune_epochs=4,
                            training__student_epochs=8, training__batch_size=8, training__device=DEVICE,
                            dist__backend="mpi" if DEVICE == "cuda" else "auto", dist__timeout_s=TIMEOUT_S,
                            dist__checksum_every=5))
    subprocess.run([BIN, "synth", "--config", config], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)

    reference = os.path.join(work, "np1")
    ref_log = train(1, config, reference)
    for np in (2, 3):
        for group_size in (np, 1):
            out = os.path.join(work, "np%d_g%d" % (np, group_size))
            log = train(np, config, out, group_size)
            label = "P = %d, dist.group_size = %d" % (np, group_size)
            if group_size < np and "in %d group(s) of 1 rank(s)" % np not in log:
                fail("%s: the log does not say the units ran in %d groups" % (label, np), log)
            compare(reference, out, label, ref_log, log)
            if group_size == 1:
                a = open(os.path.join(reference, "results.json")).read()
                b = open(os.path.join(out, "results.json")).read()
                if a != b:
                    fail("%s: results.json differs from P = 1 (each unit ran on one rank, as in one "
                         "process)" % label)
                print("%s: results.json identical to P = 1" % label)

    killed = os.path.join(work, "killed")
    lose_rank_during_students(config, killed, signal.SIGKILL, 1)
    if DEVICE == "cuda":  # a GPU run resumes on the CPU
        resume_config = os.path.join(work, "resume_cpu.toml")
        with open(config) as f, open(resume_config, "w") as g:
            g.write(f.read().replace('device = "cuda"', 'device = "cpu"'))
        log = train(2, resume_config, killed)
    else:
        log = train(2, config, killed)
    if "student a | resuming after epoch" not in log:
        fail("the re-run did not resume student a from its last checkpoint", log)
    m = re.search(r"units: (\d+) of (\d+) to run \((\d+) finished earlier\)", log)
    if not m or int(m.group(1)) + int(m.group(3)) != int(m.group(2)) or not 0 < int(m.group(1)) < int(m.group(2)):
        fail("the re-run must run only the units the killed run did not finish", log)
    print("re-run after kill -9: %s of %s units left to run" % (m.group(1), m.group(2)))
    if "| teacher | epoch" in log or "| features (" in log:
        fail("the re-run trained the teacher or the feature nets again (they had finished)", log)
    compare(reference, killed, "killed at P = 3, resumed at P = 2")

    # Alive but silent (the launcher cannot see it): in one group the collectives
    # time out; in groups of one, rank 0 sees rank 1's heartbeat stop.
    lose_rank_during_students(config, os.path.join(work, "stopped"), signal.SIGSTOP, 3)
    lose_rank_during_students(config, os.path.join(work, "stopped_groups"), signal.SIGSTOP, 1)
    print("ok")


if __name__ == "__main__":
    main()
