#!/usr/bin/env python3
"""Where the CPU of N runs at once goes, by process role, beside runc's.

Why: at once (bench/rates.sh) the machine's CPU is the limit, so a runtime's rate is
the CPU it spends per container, wherever it is spent: in the runtime's own process,
in the container's init until it execs the program, in helpers that nobody waits for
(pycontainer's attach primer, a grandchild of the launcher), in kernel threads (cgroup
and namespace teardown run in workqueues, RCU callbacks in softirq). A process tree's
rusage misses the last two; this does not.

How: ``perf record -a -F FREQ`` (a sample of every CPU every 1/FREQ s, whoever runs)
around each batch of N ``run -b`` started together; the runtimes alternate batch by
batch, and the order flips each round (each batch's inode and cgroup churn makes the
next one's creations dearer on this machine's ext4 /run). Every sample is charged to
its process; a process's role is how far below the batch's shell it is and the names
(comm) it had, from perf's fork, exec and PR_SET_NAME events: pycontainer's runtime is
``runtime: pycontainer -> python`` (the launcher, then Python), its init ``child: python
-> 11 -> true`` (the sealed exec helper, then the program); runc's are ``runtime: runc``,
``great-grandchild: runc:[1:CHILD] -> runc:[2:INIT] -> true`` and the stages of its
nsexec between. pid 0 is idle time. Figures: ms of CPU per container (samples / FREQ /
containers), over all rounds.

    python3 bench/roles.py [-n 50] [-r 3] [-F 2000] [--bundle /tmp/perf18bundle]
                           [--runtime NAME=CMD ...]   (default: runc, pycontainer)

Root only; needs perf(1); keep the machine otherwise idle. Read: perf-record(1),
perf-script(1).
"""

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile

from faults import COMM, FORK      # perf script's task events, parsed as faults.py does


def batch(cmd: str, bundle: str, n: int, tag: str, freq: int, out: str) -> None:
    script = (f'for i in $(seq {n}); do {cmd} run -b {bundle} {tag}-$i >/dev/null 2>&1 & done; '
              f'wait')
    subprocess.run(["perf", "record", "-q", "-a", "-F", str(freq), "-o", out, "--",
                    "bash", "-c", script], check=True, stderr=subprocess.DEVNULL)


DEPTH = ["runtime", "child", "grandchild", "great-grandchild"]


def roles(data: str) -> collections.Counter:
    """samples per role in one perf.data. A role: how far below the batch's shell the
    process is (the runtime the shell forked, its child, ...) and the names it had (its
    parent's at the fork, then each exec(2) or PR_SET_NAME), e.g. ``child: python -> true``."""
    out = subprocess.run(["perf", "script", "-i", data, "--show-task-events", "-F", "comm,pid,event"],
                         check=True, capture_output=True, text=True).stdout
    parent, names, samples = {}, {}, collections.Counter()
    shell = None
    for line in out.splitlines():
        if "PERF_RECORD_" not in line:
            head = line.split()
            if len(head) >= 2 and head[-2].isdigit():
                samples[head[-2]] += 1              # comm (may hold spaces) pid event:
            continue
        m = FORK.search(line)
        if m and m.group(1) != m.group(2):          # a process, not a thread
            child, par = m.groups()
            parent[child] = par
            names[child] = [names.get(par, ["?"])[-1]]
            continue
        m = COMM.search(line)
        if m:
            name, pid = m.groups()
            if shell is None and name == "bash" and "exec" in line:
                shell = pid                         # perf's child: the batch's shell
            seq = names.setdefault(pid, [])
            if not seq or seq[-1] != name:
                seq.append(name)
    by_role = collections.Counter()
    for pid, n in samples.items():
        depth, p = 0, pid
        while p in parent and p != shell:
            p, depth = parent[p], depth + 1
        if p == shell and pid != shell:
            seq = [x for x in names.get(pid, ["?"]) if x != "bash"] or ["bash"]
            role = f"{DEPTH[min(depth, len(DEPTH)) - 1]}: {' -> '.join(seq)}"
        elif pid == "0":
            role = "idle"
        else:
            role = f"others ({names.get(pid, ['?'])[-1]})" if pid in names else "others"
        by_role[role] += n
    return by_role


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=50, help="containers per batch (default 50)")
    ap.add_argument("-r", "--rounds", type=int, default=3, help="batches per runtime (default 3)")
    ap.add_argument("-F", "--freq", type=int, default=2000, help="samples per s per CPU")
    ap.add_argument("--bundle", default="/tmp/perf18bundle")
    ap.add_argument("--runtime", action="append", default=[], metavar="NAME=CMD")
    ap.add_argument("--min-share", type=float, default=1.0,
                    help="roles under this %% of a runtime's samples are summed as 'other'")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("roles.py: run as root (the runtimes need it)")
    if not shutil.which("perf"):
        sys.exit("roles.py: perf(1) not found (apt install linux-perf)")
    if not os.path.isfile(os.path.join(a.bundle, "config.json")):
        sys.exit(f"roles.py: {a.bundle}: not a bundle (no config.json); bench/floor.sh makes it")
    runtimes = [tuple(r.split("=", 1)) for r in a.runtime] or \
        [("runc", "runc"), ("pycontainer", shutil.which("pycontainer") or "pycontainer")]
    totals = {name: collections.Counter() for name, _ in runtimes}
    with tempfile.TemporaryDirectory(prefix="roles.") as tmp:
        for r in range(a.rounds):
            order = runtimes if r % 2 == 0 else runtimes[::-1]
            for name, cmd in order:
                data = f"{tmp}/{name}.{r}.data"
                batch(cmd, a.bundle, a.n, f"roles-{os.getpid()}-{r}-{name}", a.freq, data)
                totals[name] += roles(data)
    per = a.freq * a.rounds * a.n / 1000.0           # samples per ms of CPU per container
    print(f"# CPU per container, {a.n} at once, {a.rounds} batches each, perf record -a "
          f"-F {a.freq}; load {os.getloadavg()[0]:.1f}")
    for name, _ in runtimes:
        c = totals[name]
        whole = sum(c.values())
        print(f"\n## {name}: {whole / per:.1f} ms per container (busy {(whole - c['idle']) / per:.1f})")
        print("| role | ms per container | share |")
        print("|---|---|---|")
        other = 0
        for role, n in c.most_common():
            if 100.0 * n / whole < a.min_share:
                other += n
                continue
            print(f"| {role} | {n / per:.2f} | {100.0 * n / whole:.1f}% |")
        print(f"| other | {other / per:.2f} | {100.0 * other / whole:.1f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
