#!/usr/bin/env python3
"""hardy_dist across real network stacks (issue 13, part 6).

Three network namespaces are three hosts (hd<id>a, b, c), each with one veth link
(eth0, 10.77.<k>.1-3/24) to a bridge in a fourth namespace (the switch); every address
exists only inside those namespaces. Open MPI starts its daemons on the "hosts" through
an rsh agent that runs `ip netns exec <host>` instead of ssh, and all its traffic
(launch, wire-up, collectives) goes over TCP on eth0: `mpirun` runs on host a.
Checks, each against a tiny corpus with dropout 0:

1. Equivalence. P = 3 over three hosts in one group (data-parallel over the network)
   within the data-parallel tolerance of one process; in groups of one (every unit as
   one process) results.json byte-identical to one process.
2. A bad network. tc netem adds 20 ms delay and 1 % loss on every host's link (on a
   kernel without sch_netem: a 4 Mbit/s token bucket and nftables dropping 1 % of the
   packets): a smaller one-group run's results.json is byte-identical to the clean
   network's, only slower (the slowdown and the dropped packets are printed).
3. A lost link. Host c's link goes down while the teacher trains: every rank exits
   within dist.timeout_s (+ margin) and some rank names the lost rank; after the link
   is restored, the same command resumes and ends with the clean run's results.

Everything it creates (namespaces, links, the bridge, qdiscs) is removed at the end,
whatever happens. Where namespaces cannot be made (not root, no iproute2, a
container without CAP_SYS_ADMIN), it prints a loud SKIPPED line and exits 77.
Environment: HARDY_DIST_BIN, MPIEXEC.
"""
import atexit
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from results_check import compare_results  # noqa: E402
from hardy_cli import tiny_config  # noqa: E402

BIN = os.path.abspath(os.environ["HARDY_DIST_BIN"])
MPIEXEC = os.environ.get("MPIEXEC", "mpirun")
SKIP = 77
TIMEOUT_S = 10  # dist.timeout_s of the runs
TAG = "hd%d" % (os.getpid() % 100000)
SUBNET = 10 + os.getpid() % 200  # 10.77.<SUBNET>.0/24, distinct for concurrent runs
HOSTS = {"a": "10.77.%d.1" % SUBNET, "b": "10.77.%d.2" % SUBNET, "c": "10.77.%d.3" % SUBNET}
SWITCH = TAG + "s"



def fail(message, output=""):
    sys.exit(message + ("\n--- output ---\n" + output if output else ""))


def sh(*cmd, check=True):
    return subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=check)


def ns(host):
    return TAG + host


def in_ns(host, *cmd, check=True):
    return sh("ip", "netns", "exec", ns(host), *cmd, check=check)


created = []


def teardown():
    for name in reversed(created):
        # Processes this test started in the namespace (a daemon mpirun lost) first.
        for pid in sh("ip", "netns", "pids", name, check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        sh("ip", "netns", "del", name, check=False)
    created.clear()


def build_network():
    """The switch namespace with a bridge, and one namespace per host linked to it."""
    sh("ip", "netns", "add", SWITCH)
    created.append(SWITCH)
    sh("ip", "netns", "exec", SWITCH, "ip", "link", "add", "br0", "type", "bridge")
    sh("ip", "netns", "exec", SWITCH, "ip", "link", "set", "br0", "up")
    for host, address in HOSTS.items():
        sh("ip", "netns", "add", ns(host))
        created.append(ns(host))
        # The pair is made in the host's namespace; its far end moves to the switch.
        in_ns(host, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "up" + host)
        in_ns(host, "ip", "link", "set", "up" + host, "netns", SWITCH)
        in_ns(host, "ip", "addr", "add", address + "/24", "dev", "eth0")
        in_ns(host, "ip", "link", "set", "eth0", "up")
        in_ns(host, "ip", "link", "set", "lo", "up")
        sh("ip", "netns", "exec", SWITCH, "ip", "link", "set", "up" + host, "master", "br0")
        sh("ip", "netns", "exec", SWITCH, "ip", "link", "set", "up" + host, "up")


def host_tmpdir(work, host):
    return os.path.join(work, "tmp_" + host)


def rsh_agent(work):
    """Open MPI's rsh agent: `agent <host> <command...>` runs the command in the
    host's namespace (the environment passes through, as on a shared filesystem).
    Each host gets a TMPDIR of its own: the namespaces share one filesystem and one
    host name, so Open MPI's daemons would otherwise share a session directory
    (<tmp>/ompi.<hostname>.<uid>/jf.<job family>, with its hwloc.sm and PMIx files)
    and one daemon could die at start-up, leaving mpirun waiting for it forever."""
    path = os.path.join(work, "netns_rsh.sh")
    lines = ["#!/bin/sh", "# Open MPI's plm_rsh_agent for namespace hosts (tests/dist/multihost_test.py)",
             'host="$1"; shift', 'case "$host" in']
    for host, address in HOSTS.items():
        lines.append('  %s) ns=%s; tmp=%s ;;' % (address, ns(host), host_tmpdir(work, host)))
    lines += ['  *) echo "netns_rsh: unknown host $host" >&2; exit 255 ;;', "esac",
              'mkdir -p "$tmp"',
              'exec ip netns exec "$ns" env TMPDIR="$tmp" /bin/sh -c "$*"', ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def mpirun_command(work, config, out, group_size):
    hostfile = os.path.join(work, "hosts")
    with open(hostfile, "w") as f:
        for address in HOSTS.values():
            f.write("%s slots=1\n" % address)
    subnet = "10.77.%d.0/24" % SUBNET
    os.makedirs(host_tmpdir(work, "a"), exist_ok=True)
    return ["ip", "netns", "exec", ns("a"), "env", "TMPDIR=" + host_tmpdir(work, "a"), MPIEXEC, "--allow-run-as-root", "--hostfile", hostfile, "-np", "3",
            "--map-by", "node", "--mca", "plm_rsh_agent", rsh_agent(work), "--mca", "plm_rsh_no_tree_spawn", "1",
            "--mca", "btl", "tcp,self", "--mca", "btl_tcp_if_include", subnet, "--mca", "oob_tcp_if_include",
            subnet, "--mca", "pml", "ob1", "-x", "PATH", "-x", "LD_LIBRARY_PATH",
            BIN, "train", "--config", config, "--out", out, "--set", "dist.group_size=%d" % group_size]


def hang_report(out):
    """What the processes of a run that did not end were doing: the process table,
    each host's TCP sockets, and (with gdb) every hardy_dist rank's threads."""
    parts = [sh("ps", "-eo", "pid,ppid,stat,etime,wchan:24,args", check=False).stdout]
    for host in HOSTS:
        parts.append("--- host %s: ss -tanp ---\n%s" % (host, in_ns(host, "ss", "-tanp", check=False).stdout))
    if shutil.which("gdb"):
        for pid in rank_pids(out):
            try:
                bt = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "thread apply all bt 12"],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
            except subprocess.TimeoutExpired:
                parts.append("--- gdb: hardy_dist pid %d: no backtrace within 60 s ---" % pid)
                continue
            frames = [l for l in bt.stdout.splitlines() if l.startswith(("#", "Thread"))]
            parts.append("--- gdb: hardy_dist pid %d ---\n%s" % (pid, "\n".join(frames[:120])))
    return "\n".join(parts)


def run(cmd, expect=0, timeout=300):
    start = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out = cmd[cmd.index("--out") + 1] if "--out" in cmd else os.path.dirname(cmd[-1])
        report = hang_report(out)
        os.killpg(proc.pid, signal.SIGKILL)
        for pid in rank_pids(out):
            os.kill(pid, signal.SIGKILL)
        output, _ = proc.communicate()
        fail("%s did not end within %d s" % (" ".join(cmd), timeout), output + "\n" + report)
    if proc.returncode != expect:
        fail("%s exited with %d (expected %d)" % (" ".join(cmd), proc.returncode, expect), output)
    return output, time.time() - start


def identical(a, b, label, log=""):
    if open(os.path.join(a, "results.json")).read() != open(os.path.join(b, "results.json")).read():
        fail("%s: results.json differs" % label, log)


def rank_pids(out):
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\0")
        except OSError:
            continue
        if cmdline and cmdline[0].endswith(b"hardy_dist") and any(out.encode() in arg for arg in cmdline):
            pids.append(int(pid))
    return pids


def lose_link(work, config, out):
    """Host c's link goes down during the teacher; returns (seconds until every rank
    exited, output)."""
    proc = subprocess.Popen(mpirun_command(work, config, out, 3), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    while True:
        line = proc.stdout.readline()
        if not line:
            fail("the run ended before the link could be taken down", "".join(lines))
        lines.append(line)
        if re.search(r"\| teacher \| epoch 1/", line):
            break
    in_ns("c", "ip", "link", "set", "eth0", "down")
    down = time.time()
    deadline = down + TIMEOUT_S + 30
    while rank_pids(out) and time.time() < deadline:
        time.sleep(0.2)
    elapsed = time.time() - down
    left = rank_pids(out)
    # mpirun may wait for the daemon it can no longer reach: end it.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    rest, _ = proc.communicate()
    output = "".join(lines) + rest
    if left:
        fail("ranks still ran %d s after host c's link went down (dist.timeout_s = %d)" % (elapsed, TIMEOUT_S), output)
    return elapsed, output


def main():
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("tc"):
        print("#" * 72 + "\nSKIPPED multihost_test: needs root, iproute2 (ip) and tc\n" + "#" * 72)
        sys.exit(SKIP)
    probe = sh("ip", "netns", "add", TAG + "p", check=False)
    if probe.returncode != 0:
        print("#" * 72 + "\nSKIPPED multihost_test: this machine refuses network namespaces (%s)\n" %
              probe.stdout.strip() + "#" * 72)
        sys.exit(SKIP)
    # netem (sch_netem) may be missing where namespaces work: then that check skips.
    sh("ip", "netns", "exec", TAG + "p", "ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
    netem = sh("ip", "netns", "exec", TAG + "p", "tc", "qdisc", "add", "dev", "v0", "root", "netem", "delay", "1ms",
               check=False)
    sh("ip", "netns", "del", TAG + "p")
    atexit.register(teardown)
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: sys.exit(1))  # atexit tears down
    build_network()

    work = tempfile.mkdtemp(prefix="hardy_multihost_")
    config = os.path.join(work, "tiny.toml")
    with open(config, "w") as f:
        f.write(tiny_config(work, 3, data__conditions=["a", "tv", "atv"], training__teacher_epochs=4,
                              training__student_epochs=4, dist__timeout_s=TIMEOUT_S))
    long_config = os.path.join(work, "long.toml")  # a teacher that outlives the link
    with open(long_config, "w") as f:
        f.write(tiny_config(work, 3, data__conditions=["a", "tv", "atv"], training__teacher_epochs=40,
                              training__student_epochs=4, dist__timeout_s=TIMEOUT_S))
    # A smaller job for the bad network (each lost packet costs a TCP retransmission
    # timeout, >= 200 ms): one missing-modality condition, shorter student training.
    small_config = os.path.join(work, "small.toml")
    with open(small_config, "w") as f:
        f.write(tiny_config(work, 3, data__conditions=["a"], training__teacher_epochs=3,
                              training__student_epochs=3, dist__timeout_s=TIMEOUT_S))
    run([BIN, "synth", "--config", config])
    one = os.path.join(work, "one")
    run([BIN, "train", "--config", config, "--out", one])

    groups = os.path.join(work, "net_g1")
    log, t_groups = run(mpirun_command(work, config, groups, 1))
    identical(one, groups, "P = 3 over three hosts in groups of one", log)
    print("P = 3 over three hosts in groups of one: results.json identical to one process (%.1f s)" % t_groups)
    clean = os.path.join(work, "net_g3")
    log, t_clean = run(mpirun_command(work, config, clean, 3))
    worst = compare_results(one, clean, "P = 3 over three hosts in one group", fail)
    print("P = 3 over three hosts in one group: within tolerance of one process (largest difference %.2g; "
          "%.1f s)" % (worst, t_clean))

    small_clean = os.path.join(work, "small_clean")
    _, t_small = run(mpirun_command(work, small_config, small_clean, 3))
    # The bad network: netem's delay and loss where the kernel has it; else (kernels
    # without sch_netem) a token-bucket rate limit (tc tbf) for slowness and nftables
    # dropping 1 % of every host's outgoing packets for loss.
    if netem.returncode == 0:
        how = "20 ms delay and 1 % loss (tc netem)"
        for host in HOSTS:
            in_ns(host, "tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay", "20ms", "loss", "1%")
    elif shutil.which("nft"):
        print("#" * 72 + "\nnote: tc refuses netem here (%s): a 4 Mbit/s token bucket (tc tbf) and 1 %% loss "
              "(nftables) instead\n" % netem.stdout.strip() + "#" * 72)
        how = "a 4 Mbit/s link (tc tbf) and 1 % loss (nftables)"
        for host in HOSTS:
            in_ns(host, "tc", "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "4mbit", "burst", "16kb",
                  "latency", "200ms")
            in_ns(host, "nft", "add", "table", "inet", "hardy_loss")
            in_ns(host, "nft", "add", "chain", "inet", "hardy_loss", "out",
                  "{ type filter hook output priority 0; }")
            in_ns(host, "nft", "add", "rule", "inet", "hardy_loss", "out", "numgen", "random", "mod", "100", "<",
                  "1", "counter", "drop")
    else:
        how = None
        print("#" * 72 + "\nSKIPPED the bad-network check: tc refuses netem here (%s) and nft is not installed "
              "(scripts/install-deps.sh installs nftables)\n" % netem.stdout.strip() + "#" * 72)
    if how:
        slow = os.path.join(work, "bad_network")
        log, t_slow = run(mpirun_command(work, small_config, slow, 3))
        identical(small_clean, slow, how, log)
        dropped = ""
        if netem.returncode != 0:
            counts = [re.search(r"packets (\d+)", in_ns(h, "nft", "list", "table", "inet", "hardy_loss").stdout)
                      for h in HOSTS]
            dropped = "; %d packets dropped" % sum(int(m.group(1)) for m in counts if m)
        print("%s on every link: results.json identical to the clean network, %.1f s vs %.1f s (%.1fx slower%s)"
              % (how, t_slow, t_small, t_slow / t_small, dropped))
        for host in HOSTS:
            in_ns(host, "tc", "qdisc", "del", "dev", "eth0", "root")
            in_ns(host, "nft", "delete", "table", "inet", "hardy_loss", check=False)

    long_clean = os.path.join(work, "long_clean")
    run(mpirun_command(work, long_config, long_clean, 3))
    lost = os.path.join(work, "lost")
    elapsed, output = lose_link(work, long_config, lost)
    if not re.search(r"rank [0-2]", output) or "dist.timeout_s" not in output:
        fail("no rank said which rank was lost and after how long", output)
    print("host c's link down during the teacher: every rank exited %.1f s later (dist.timeout_s = %d)" %
          (elapsed, TIMEOUT_S))
    in_ns("c", "ip", "link", "set", "eth0", "up")
    log, _ = run(mpirun_command(work, long_config, lost, 3))
    if "| teacher | resuming" not in log:
        fail("the re-run after the link came back did not resume the teacher", log)
    identical(long_clean, lost, "re-run after the link came back", log)
    print("link restored: the re-run resumed the teacher and ended with the clean run's results.json")
    teardown()
    print("ok")


if __name__ == "__main__":
    main()
