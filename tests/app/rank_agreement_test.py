#!/usr/bin/env python3
"""Ranks that disagree stop before any work (issue 13, part 1; src/app/rank_agreement.h).

An MPMD launch gives the ranks different settings. Every rank must exit 2, before
training anything, with a message naming the differing key and which ranks hold
which value; never an MPI error, never a silent run:
- P = 2: training.lr 0.001 on rank 0, 0.002 on rank 1;
- P = 3: data.conditions differs on rank 2 only (which used to end in MPI_ERR_TRUNCATE);
- P = 3: a per-rank key (training.threads) may differ: that job runs to the end.
Environment: HARDY_DIST_BIN, MPIEXEC.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from hardy_cli import BIN, MPIEXEC, fail, run  # noqa: E402

CONFIG = """
[data]
corpus = "{dir}/corpus.h5"
folds = [0]
[synth]
out = "{dir}/corpus.h5"
dialogues = 10
min_length = 2
max_length = 4
dims = [6, 8, 4]
[model]
hidden = 8
depth = 1
heads = 2
ff_hidden = 16
decoder_hidden = 16
[training]
finetune_epochs = 1
teacher_epochs = 1
teacher_stage1_epochs = 1
student_epochs = 1
student_stage1_epochs = 1
threads = 1
[dist]
timeout_s = 60
"""


def mpmd(config, out, per_rank_sets):
    """mpirun -np 1 hardy_dist train ... --set A : -np 1 hardy_dist train ... --set B ..."""
    cmd = [MPIEXEC, "--allow-run-as-root", "--oversubscribe"]
    for i, sets in enumerate(per_rank_sets):
        if i:
            cmd.append(":")
        cmd += ["-np", "1", BIN, "train", "--config", config, "--out", out]
        for s in sets:
            cmd += ["--set", s]
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)


def expect_refusal(proc, label, *needles):
    if proc.returncode != 2:
        fail("%s: expected exit 2, got %d" % (label, proc.returncode), proc.stdout)
    for needle in needles:
        if needle not in proc.stdout:
            fail("%s: the message lacks %r" % (label, needle), proc.stdout)
    if "MPI_ERR" in proc.stdout:
        fail("%s: an MPI error surfaced" % label, proc.stdout)
    print("%s: exit 2, message names %s" % (label, ", ".join(repr(n) for n in needles)))


def main():
    d = tempfile.mkdtemp(prefix="hardy_agreement_")
    config = os.path.join(d, "config.toml")
    with open(config, "w") as f:
        f.write(CONFIG.format(dir=d))
    run(["synth", "--config", config])

    out = os.path.join(d, "lr")
    proc = mpmd(config, out, [["training.lr=0.001"], ["training.lr=0.002"]])
    expect_refusal(proc, "P = 2, training.lr differs", "training.lr is 0.001 on rank 0 and 0.002 on rank 1")
    if os.path.exists(os.path.join(out, "fold0")):
        fail("P = 2, training.lr differs: work was started before the ranks agreed", proc.stdout)

    proc = mpmd(config, os.path.join(d, "conditions"),
                [[], [], ['data.conditions=["a","t"]']])
    expect_refusal(proc, "P = 3, data.conditions differs on rank 2", "data.conditions is",
                   "on ranks 0, 1", "on rank 2")

    proc = mpmd(config, os.path.join(d, "threads"), [["training.threads=1"], ["training.threads=2"],
                                                     ["training.threads=1"]])
    if proc.returncode != 0:
        fail("P = 3 with training.threads differing per rank must run (a per-rank key), got exit %d"
             % proc.returncode, proc.stdout)
    print("P = 3, training.threads differs: allowed, the job ran")
    print("ok")


if __name__ == "__main__":
    main()
