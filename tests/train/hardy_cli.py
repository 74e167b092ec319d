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
