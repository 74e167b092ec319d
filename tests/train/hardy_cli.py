"""Running hardy_dist from the Python end-to-end tests (modalities_test.py,
regression_test.py). Environment: HARDY_DIST_BIN, MPIEXEC."""
import os
import subprocess
import sys

BIN = os.environ["HARDY_DIST_BIN"]
MPIEXEC = os.environ.get("MPIEXEC", "mpirun")


def fail(message, output=""):
    sys.exit(message + ("\n--- output ---\n" + output if output else ""))


def run(args, np=1, expect=0):
    """hardy_dist `args` (under mpirun at np > 1); fails unless it exits `expect`."""
    cmd = [BIN] + args
    if np > 1:
        cmd = [MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-np", str(np)] + cmd
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    if proc.returncode != expect:
        fail("%s exited with %d (expected %d)" % (" ".join(cmd), proc.returncode, expect), proc.stdout)
    return proc.stdout


# The tiny corpus and model of the end-to-end tests (dropout 0: runs at any rank count
# are comparable). tiny_config() writes it as TOML with per-test overrides.
TINY = {
    "data": {"corpus": "{dir}/corpus.h5", "folds": [0], "conditions": ["a", "tv", "atv"]},
    "synth": {"out": "{dir}/corpus.h5", "dialogues": 30, "min_length": 2, "max_length": 6, "classes": 4,
              "dims": [16, 24, 12], "folds": 5, "seed": 1},
    "model": {"hidden": 32, "depth": 1, "heads": 2, "ff_hidden": 64, "decoder_hidden": 64, "dropout": 0.0},
    "training": {"finetune_epochs": 2, "teacher_epochs": 4, "teacher_stage1_epochs": 2, "student_epochs": 4,
                 "student_stage1_epochs": 2, "batch_size": 4, "lr": 1e-3, "threads": 1},
    "dist": {"timeout_s": 20},
}


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"%s"' % value
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def tiny_config(directory, seed, **overrides):
    """TINY as TOML, corpus in `directory`, synth.seed = seed; overrides are
    section__key=value (e.g. training__batch_size=8, output__checkpoint_minutes=0)."""
    sections = {name: dict(keys) for name, keys in TINY.items()}
    sections["synth"]["seed"] = seed
    for name, value in overrides.items():
        section, key = name.split("__", 1)
        sections.setdefault(section, {})[key] = value
    lines = []
    for section, keys in sections.items():
        lines.append("[%s]" % section)
        for key, value in keys.items():
            text = toml_value(value)
            lines.append("%s = %s" % (key, text.replace("{dir}", directory)))
        lines.append("")
    return "\n".join(lines)


def rank_pids(out):
    """rank -> pid of the hardy_dist processes writing to `out` (from /proc)."""
    pids = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\0")
            environ = open("/proc/%s/environ" % pid, "rb").read().split(b"\0")
        except OSError:
            continue
        if cmdline and cmdline[0].endswith(b"hardy_dist") and out.encode() in cmdline:
            rank = 0
            for e in environ:
                if e.startswith(b"OMPI_COMM_WORLD_RANK="):
                    rank = int(e.split(b"=")[1])
            pids[rank] = int(pid)
    return pids
