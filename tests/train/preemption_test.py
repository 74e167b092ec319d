#!/usr/bin/env python3
"""Step checkpoints and preemption (issue 13, parts 2 and 3; docs/operations.md).

1. Stop on a signal. SIGUSR1 (what `sbatch --signal` sends before a time limit) is
   sent to the job while the teacher trains: every rank must finish its step, agree on
   the batch to stop after, write a step checkpoint and exit 75. Re-running the same
   command must resume that epoch after that batch ("resuming epoch E after batch B")
   and end with results.json byte-identical to an uninterrupted run with the same
   ranks and layout, and the same epoch losses. Runs: P = 1; P = 2 and 3 in one group
   (the signal to mpirun, which forwards it to every rank); P = 3 in groups of one
   rank with the signal to rank 1 alone (the other groups learn of it through
   progress/stop). SIGTERM to every rank at P = 2 (as SLURM delivers it).
2. kill -9 with step checkpoints. With output.checkpoint_minutes tiny (a step
   checkpoint after every batch), every rank is killed -9 while the teacher trains;
   the re-run must resume mid-epoch and give byte-identical results.
Dropout is 0, so "identical" is exact. Environment: HARDY_DIST_BIN, MPIEXEC.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hardy_cli import rank_pids, tiny_config  # noqa: E402

BIN = os.environ["HARDY_DIST_BIN"]
MPIEXEC = os.environ.get("MPIEXEC", "mpirun")
STOPPED = 75  # kExitStopped



def fail(message, output=""):
    sys.exit(message + ("\n--- output ---\n" + output if output else ""))


def command(np, config, out, group_size):
    args = [BIN, "train", "--config", config, "--out", out, "--set", "dist.group_size=%d" % group_size]
    if np == 1:
        return args
    return [MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-np", str(np)] + args


def train(np, config, out, group_size, expect=0):
    proc = subprocess.run(command(np, config, out, group_size), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=600)
    if proc.returncode != expect:
        fail("P = %d exited with %d (expected %d)" % (np, proc.returncode, expect), proc.stdout)
    return proc.stdout


def losses(log):
    """Every epoch line's (what, epoch) -> loss text, exactly as logged."""
    return {(m.group(1), m.group(2)): m.group(3)
            for m in re.finditer(r"(fold \d+ \| [^|]+?) \| epoch (\d+)/\d+ \([^)]*\) \| loss ([0-9.eE+-]+)", log)}


def interrupt(np, config, out, group_size, how, after=r"\| teacher \| epoch 1/"):
    """Starts the run, waits for a line matching `after` (default: the teacher's first
    epoch line), then interrupts it:
    'usr1' to the launcher (mpirun forwards it to every rank), 'term' to every rank
    (as SLURM and srun deliver it; mpirun itself turns a SIGTERM into its own exit
    status 1 and a SIGKILL seconds later), 'usr1-rank1' to rank 1 alone, 'kill' =
    kill -9 of every rank. Returns (status, output)."""
    proc = subprocess.Popen(command(np, config, out, group_size), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines, deadline = [], time.time() + 300
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if re.search(after, line):
            break
    else:
        proc.kill()
    if proc.poll() is not None:
        fail("the run ended before it could be interrupted", "".join(lines))
    if how == "usr1":
        proc.send_signal(signal.SIGUSR1)
    elif how == "term":
        for pid in rank_pids(out).values():
            os.kill(pid, signal.SIGTERM)
    elif how == "usr1-rank1":
        os.kill(rank_pids(out)[1], signal.SIGUSR1)
    else:
        # After the next write of the teacher's checkpoint: a step checkpoint (the
        # epoch checkpoint was written before the epoch line).
        ckpt = os.path.join(out, "fold0", "teacher.ckpt")
        first = os.stat(ckpt).st_mtime_ns
        while os.stat(ckpt).st_mtime_ns == first and proc.poll() is None:
            time.sleep(0.001)
        for pid in rank_pids(out).values():
            os.kill(pid, signal.SIGKILL)
    try:
        rest, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        rest, _ = proc.communicate()
        fail("the run did not end within 120 s of the interruption (%s)" % how, "".join(lines) + rest)
    return proc.returncode, "".join(lines) + rest


def check_resume(label, np, config, reference, reference_log, out, group_size, how, after):
    status, output = interrupt(np, config, out, group_size, how, after)
    if how == "kill":
        if status == 0:
            fail("%s: the killed run exited 0" % label, output)
    else:
        if status != STOPPED:
            fail("%s: the stopped run exited %d, expected %d" % (label, status, STOPPED), output)
        m = re.search(r"stopping on (SIG\w+|[^:]+): saved after batch (\d+) of epoch (\d+)", output)
        if not m:
            fail("%s: no rank said where it stopped" % label, output)
        if "re-run the same command" not in output:
            fail("%s: the stop message must say how to resume" % label, output)
    log = train(np, config, out, group_size)
    resumed = re.findall(r"\| (teacher|student \w+) \| resuming epoch (\d+) after batch (\d+) \(step checkpoint\)", log)
    if not resumed:
        fail("%s: the re-run did not resume from a step checkpoint" % label, log)
    a = open(os.path.join(reference, "results.json")).read()
    b = open(os.path.join(out, "results.json")).read()
    if a != b:
        fail("%s: results.json differs from the uninterrupted run" % label, log)
    # The epoch losses: the interrupted run's lines, then the re-run's, as uninterrupted.
    got = losses(output)
    got.update(losses(log))
    want = losses(reference_log)
    if got != want:
        diff = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
        fail("%s: epoch losses differ from the uninterrupted run at %s" % (label, diff[:5]), log)
    # metrics.csv: the same rows (no duplicate, no gap), timing columns aside.
    if metrics_rows(reference) != metrics_rows(out):
        fail("%s: metrics.csv differs from the uninterrupted run's (timing columns aside)" % label,
             open(os.path.join(out, "metrics.csv")).read())
    print("%s: stopped (status %d), resumed %s epoch %s after batch %s; results.json, metrics.csv and every "
          "epoch loss identical to the uninterrupted run" % (label, status, resumed[0][0], resumed[0][1],
                                                             resumed[0][2]))


def metrics_rows(run_dir):
    """metrics.csv without utterances_per_s and elapsed_s (the last two columns)."""
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        return [line.rstrip("\n").rsplit(",", 2)[0] for line in f]


def write_config(work, name, minutes=10, teacher_epochs=6):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write(tiny_config(work, 11, synth__dialogues=40, training__teacher_epochs=teacher_epochs,
                            training__teacher_stage1_epochs=3, training__batch_size=2, dist__timeout_s=8,
                            output__checkpoint_minutes=minutes))
    return path


def main():
    work = tempfile.mkdtemp(prefix="hardy_preempt_")
    config = write_config(work, "tiny.toml")
    every_step = write_config(work, "every_step.toml", minutes=1e-9)
    # Groups of one rank: rank 1 waits for the teacher of group 0, which must still be
    # training when the stop reaches it through progress/stop (within 0.5 s).
    long_teacher = write_config(work, "long_teacher.toml", teacher_epochs=60)
    subprocess.run([BIN, "synth", "--config", config], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    teacher, student = r"\| teacher \| epoch 1/", r"\| student a \| epoch 3/"
    cases = [("SIGUSR1, P = 1", 1, 1, "usr1", config, teacher),
             ("SIGUSR1 to mpirun, P = 2 in one group", 2, 2, "usr1", config, teacher),
             ("SIGUSR1 to mpirun in a student's curriculum epoch, P = 2", 2, 2, "usr1", config, student),
             ("SIGTERM to every rank, P = 2 in one group", 2, 2, "term", config, teacher),
             ("SIGUSR1 to mpirun, P = 3 in one group", 3, 3, "usr1", config, teacher),
             ("SIGUSR1 to rank 1 alone, P = 3 in groups of one", 3, 1, "usr1-rank1", long_teacher, teacher),
             ("kill -9 of every rank, checkpoint every step, P = 2", 2, 2, "kill", every_step, teacher)]
    references = {}
    for n, (label, np, group_size, how, cfg, after) in enumerate(cases):
        key = (np, group_size, cfg if cfg == long_teacher else config)  # step checkpoints change no result
        if key not in references:
            out = os.path.join(work, "ref%d" % len(references))
            references[key] = (out, train(np, key[2], out, group_size))
        reference, reference_log = references[key]
        check_resume(label, np, cfg, reference, reference_log, os.path.join(work, "case%d" % n), group_size, how,
                     after)
    print("ok")


if __name__ == "__main__":
    main()
