#!/usr/bin/env python3
"""Page faults of one `run -b`, by process, phase and mapping, beside runc's.

Why: at once (bench/rates.sh) the machine's CPU is the limit, and a container's CPU
is mostly the kernel's; page faults are the largest part of what differs between
runtimes. A minor fault costs a few microseconds here (``--cost`` measures each kind),
and a fork(2)ed Python process faults on every page it writes while its parent still
maps it (copy-on-write: reference counts, the interpreter's state, the code objects'
warm-up counters). This shows where a run's faults are:

- by process and name: the processes of one run, a row for each name (comm) a process
  had, as exec(2) and prctl(PR_SET_NAME) change it: pycontainer's init is ``python``
  until it execs its sealed exec helper (a memfd, named by its fd's number), which execs
  the program (``true``); runc's init is ``runc:[1:CHILD]``, then ``runc:[2:INIT]``;
- by phase, for the process that forks the container's program: before that fork,
  while the child shares its memory (from the fork to the child's exec), and after;
- by mapping: anonymous memory (Python's object arenas, malloc's ``[heap]``), the
  interpreter's own data segment (``rw-p`` of the binary, then its bss), its code,
  the libraries, the stack.

Each run is recorded with ``perf record -e page-faults -c 1 -d`` (every fault, with
its address; children followed), one run at a time, after ``--warm`` unrecorded runs.
Figures are medians of ``-n`` rounds; the mapping tables are those of the median round.
``--at-once N`` also counts faults and context switches of N runs started together
(``perf stat -a``: the whole machine, so keep it otherwise idle).

    python3 bench/faults.py [-n 5] [--bundle /tmp/perfbundle] [--cost] [--at-once 50]
                            [--runtime NAME=CMD ...]   (default: pycontainer, runc)

Root only; needs perf(1). Read: perf-record(1) and perf-script(1), proc(5) (maps),
fork(2) and madvise(2) (MADV_POPULATE_WRITE), and mm/memory.c (do_wp_page).
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

MMAP = re.compile(r"PERF_RECORD_MMAP2? (\d+)/\d+: \[(0x[0-9a-f]+)\((0x[0-9a-f]+)\) @ \S+"
                  r"(?: [^\]]*)?\]: (\S+) (.*)$")
FORK = re.compile(r"PERF_RECORD_FORK\((\d+):\d+\):\((\d+):\d+\)")
COMM = re.compile(r"PERF_RECORD_COMM(?: exec)?: (.*):(\d+)/\d+$")
SAMPLE = re.compile(r"^\s*(.*?)\s+(\d+)/\d+\s+([\d.]+):\s+page-faults:\s+([0-9a-f]+)\s*$")
TIME = re.compile(r"\s(\d+)/\d+\s+([\d.]+): PERF_RECORD")


class Proc:
    def __init__(self, pid, parent=None, t=0.0):
        self.pid, self.parent, self.born = pid, parent, t
        self.comms: list[str] = []
        self.maps: list[tuple[int, int, str]] = list(parent.maps) if parent else []
        self.exec_t: float | None = None        # first exec after the fork
        self.faults: list[tuple[float, int, str, str]] = []   # (time, address, comm, mapping)

    def role(self) -> str:
        return " -> ".join(self.comms) or "?"

    def label(self, addr: int) -> str:
        for start, end, name in reversed(self.maps):     # the latest mapping wins
            if start <= addr < end:
                return name
        return "unmapped"


def _name(prot: str, path: str) -> str:
    base = path.rsplit("/", 1)[-1] or path      # runc's init runs from a file shown as "/"
    if path.startswith("["):
        return path
    if path == "//anon":
        return "anon"
    return f"{base} {'code' if 'x' in prot else 'data' if 'w' in prot else 'read-only'}"


def parse(data: str) -> dict[int, Proc]:
    """The recorded processes (the command's tree), their names, mappings and faults."""
    out = subprocess.run(["perf", "script", "-i", data, "--show-mmap-events", "--show-task-events",
                          "-F", "comm,pid,tid,time,addr,event"],
                         capture_output=True, text=True, check=True).stdout
    procs: dict[int, Proc] = {}
    for line in out.splitlines():
        s = SAMPLE.match(line)
        if s:
            pid = int(s.group(2))
            if pid in procs:
                p, addr = procs[pid], int(s.group(4), 16)
                p.faults.append((float(s.group(3)), addr, s.group(1), p.label(addr)))
            continue
        tm = TIME.search(line)
        t = float(tm.group(2)) if tm else 0.0
        if (m := FORK.search(line)):
            child, parent = int(m.group(1)), int(m.group(2))
            if parent in procs and child != parent:
                procs[child] = Proc(child, procs[parent], t)
                procs[child].comms = procs[parent].comms[-1:]
        elif (m := COMM.search(line)):
            name, pid = m.group(1), int(m.group(2))
            p = procs.setdefault(pid, Proc(pid))
            if " exec:" in line:
                p.maps = []
                if p.parent is not None and p.exec_t is None:
                    p.exec_t = t
            if not p.comms or p.comms[-1] != name:
                p.comms.append(name)
        elif (m := MMAP.search(line)):
            pid = int(m.group(1))
            if pid in procs:
                start = int(m.group(2), 16)
                end = start + int(m.group(3), 16)
                prot, path = m.group(4), m.group(5).strip()
                name = _name(prot, path)
                if name == "anon" and procs[pid].maps:
                    # the bss of the file mapped just below (the part past its file's end)
                    prev = [x for x in procs[pid].maps if x[1] == start and x[2].endswith(" data")]
                    if prev:
                        name = prev[-1][2].replace(" data", " bss")
                procs[pid].maps.append((start, end, name))
    for p in procs.values():
        if p.comms and p.comms[0] == "perf-exec":
            p.comms = p.comms[1:]
    return procs


def one_run(cmd: list[str], bundle: str, cid: str, tmp: str, program: str) -> dict:
    data = os.path.join(tmp, "pf.data")
    subprocess.run(["perf", "record", "-q", "-e", "page-faults", "-c", "1", "-d", "-o", data, "--"]
                   + cmd + ["run", "-b", bundle, cid], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = parse(data)
    # one row per process and name: a process that exec's or renames itself (the launcher
    # that becomes python, the init that becomes the program) gets a row for each phase
    rows: dict[str, int] = {}
    maps: dict[str, dict[str, int]] = {}
    for p in procs.values():
        for f in p.faults:
            key = f"{f[2]} (of {p.role()})" if len(p.comms) > 1 else p.role()
            rows[key] = rows.get(key, 0) + 1
            bym = maps.setdefault(key, {})
            bym[f[3]] = bym.get(f[3], 0) + 1
    # phases of the process that forked the program's process
    phases = None
    prog = [p for p in procs.values() if p.comms and p.comms[-1] == program and p.parent]
    if prog:
        child, parent = prog[0], prog[0].parent
        end = child.exec_t if child.exec_t is not None else float("inf")
        fs = [f[0] for f in parent.faults if f[2] == parent.comms[-1]]
        phases = {"parent": parent.comms[-1],
                  "before the fork": sum(t < child.born for t in fs),
                  "while the child shares its memory": sum(child.born <= t < end for t in fs),
                  "after the child's exec": sum(t >= end for t in fs)}
    return {"total": sum(len(p.faults) for p in procs.values()), "rows": rows, "maps": maps,
            "phases": phases}


def fault_costs(pages: int = 4000, rounds: int = 5) -> str:
    """Nanoseconds per page of each kind of minor fault, measured in a fresh Python process
    (the loop that touches one byte per page is timed alone and subtracted): its report."""
    code = r"""
import mmap, os, statistics, sys, time
N, R, P = int(sys.argv[1]), int(sys.argv[2]), mmap.PAGESIZE
def touch(m, v):
    t = time.thread_time_ns()
    for i in range(0, N * P, P):
        m[i] = v
    return (time.thread_time_ns() - t) / N
res = {}
for _ in range(R):
    m = mmap.mmap(-1, N * P, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    zero = touch(m, 1); loop = touch(m, 2)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        cow = touch(m, 3)
        m2 = mmap.mmap(-1, N * P, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        for i in range(0, N * P, P): m2[i] = 1
        q, x = os.pipe()
        if os.fork() == 0:
            os.read(q, 1); os._exit(0)
        t = time.thread_time_ns(); m2.madvise(23); pop = (time.thread_time_ns() - t) / N
        os.write(x, b"x"); os.wait()
        os.write(w, f"{cow} {pop}".encode()); os._exit(0)
    cow, pop = map(float, os.read(r, 100).split()); os.waitpid(pid, 0)
    reuse = touch(m, 4)
    m3 = mmap.mmap(-1, N * P, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    t = time.thread_time_ns(); m3.madvise(23); popzero = (time.thread_time_ns() - t) / N
    for k, v in (("zero-fill (first write to new memory)", zero - loop),
                 ("copy-on-write (after fork, the other process still maps the page)", cow - loop),
                 ("reuse (after fork, the other process has exec'd or exited)", reuse - loop),
                 ("madvise(MADV_POPULATE_WRITE) of new memory, per page", popzero),
                 ("madvise(MADV_POPULATE_WRITE) of shared pages (copies), per page", pop)):
        res.setdefault(k, []).append(v)
for k, v in res.items():
    print(f"{statistics.median(v):8.0f}  {k}")
"""
    out = subprocess.run([sys.executable, "-c", code, str(pages), str(rounds)],
                         capture_output=True, text=True, check=True).stdout
    return out


def at_once(cmd: list[str], bundle: str, n: int, tag: str) -> dict:
    """Faults and context switches of the whole machine while n runs start together."""
    script = " ".join(f"{' '.join(cmd)} run -b {bundle} fa-{tag}-{i} >/dev/null 2>&1 &"
                      for i in range(n)) + " wait"
    out = subprocess.run(["perf", "stat", "-a", "-x,", "-e", "page-faults,context-switches",
                          "--", "sh", "-c", script], capture_output=True, text=True).stderr
    vals = {}
    for line in out.splitlines():
        f = line.split(",")
        if len(f) > 2 and f[0].replace(".", "").isdigit():
            vals[f[2]] = float(f[0]) / n
    return vals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=5, help="recorded runs per runtime (medians)")
    ap.add_argument("--warm", type=int, default=3)
    ap.add_argument("--bundle", default="/tmp/perfbundle", help="a runc-form bundle of /bin/true "
                    "(bench/startup.sh makes /tmp/perfbundle)")
    ap.add_argument("--program", default="true", help="the bundle's program, as comm shows it")
    ap.add_argument("--runtime", action="append", metavar="NAME=CMD",
                    help="default: pycontainer=/usr/local/bin/pycontainer and runc=runc")
    ap.add_argument("--cost", action="store_true", help="also measure what each kind of fault costs")
    ap.add_argument("--at-once", type=int, default=0, metavar="N")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("faults.py: run it as root")
    if not shutil.which("perf"):
        raise SystemExit("faults.py: needs perf(1) (Debian: linux-perf)")
    if not os.path.isfile(os.path.join(a.bundle, "config.json")):
        raise SystemExit(f"faults.py: {a.bundle} is not a bundle (no config.json); bench/startup.sh "
                         "makes /tmp/perfbundle")
    runtimes = [r.split("=", 1) for r in (a.runtime or ["pycontainer=/usr/local/bin/pycontainer",
                                                         "runc=runc"])]
    tmp = tempfile.mkdtemp(prefix="pyc-bench-faults-")
    try:
        for name, cmd in runtimes:
            argv = cmd.split()
            for i in range(a.warm):
                subprocess.run(argv + ["run", "-b", a.bundle, f"fw-{name}-{i}"], check=True,
                               stdout=subprocess.DEVNULL)
            runs = [one_run(argv, a.bundle, f"fr-{name}-{i}", tmp, a.program) for i in range(a.n)]
            runs.sort(key=lambda r: r["total"])
            med = runs[len(runs) // 2]
            print(f"\n## {name} ({cmd}): {statistics.median(r['total'] for r in runs):.0f} faults "
                  f"per run (median of {a.n}; min {runs[0]['total']}, max {runs[-1]['total']})")
            print("\n| process | faults (median round) |\n|---|---|")
            for row, c in sorted(med["rows"].items(), key=lambda x: -x[1]):
                print(f"| {row} | {c} |")
            if med["phases"]:
                ph = dict(med["phases"])
                print(f"\nThe {ph.pop('parent')} that forks the program's process: " +
                      ", ".join(f"{k} {v}" for k, v in ph.items()))
            for row, bym in med["maps"].items():
                if sum(bym.values()) < 50:
                    continue
                top = sorted(bym.items(), key=lambda x: -x[1])[:7]
                print(f"\n{row}: " + ", ".join(f"{k} {v}" for k, v in top))
            if a.at_once:
                v = at_once(argv, a.bundle, a.at_once, name)
                print(f"\n{a.at_once} at once, the whole machine, per container: " +
                      ", ".join(f"{k} {x:.0f}" for k, x in v.items()))
        if a.cost:
            print("\n## What a fault costs here (ns per page, medians)\n")
            print(fault_costs())
    finally:
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
