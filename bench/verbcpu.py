#!/usr/bin/env python3
"""CPU time and wall time of `start` and `delete`, per runtime, interleaved.

Wall times of a 6-15 ms command swing by 2 ms from run to run on a shared
2-CPU machine (breakdown.py's medians of 40 moved start from 1.65x to 2.03x
runc between runs); the CPU a command used (user + system, getrusage(2)
RUSAGE_CHILDREN around it) swings less, and is what a verb costs a busy
host. For each round, each runtime creates a container of the bundle
(/bin/true), then after a 0.1 s idle gap its `start` is timed, then (once
`state` says stopped, and another 0.1 s) its `delete`. Medians.

    python3 bench/verbcpu.py [-n ROUNDS] [--bundle DIR] NAME=CMD ...
    python3 bench/verbcpu.py runc=runc base=/tmp/base/pycontainer now=/usr/local/bin/pycontainer

Root only. Runs itself in a private mount namespace without
/sys/fs/cgroup/unified, as breakdown.py does (crun 1.8 refuses hybrid hosts).
"""

import argparse
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time


def timed(cmd: list[str]) -> tuple[float, float]:
    r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return (t1 - t0) * 1e3, cpu * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=30, help="rounds (default 30)")
    ap.add_argument("--bundle", default="/tmp/perf18bundle", help="a runc-form bundle of /bin/true")
    ap.add_argument("runtimes", nargs="+", metavar="NAME=CMD")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("verbcpu.py: run as root")
    if not os.environ.get("VERBCPU_PRIVATE"):
        os.environ["VERBCPU_PRIVATE"] = "1"
        os.execvp("unshare", ["unshare", "-m", "--propagation", "private", "sh", "-c",
                              "umount /sys/fs/cgroup/unified 2>/dev/null || umount -l /sys/fs/cgroup/unified "
                              "2>/dev/null; exec \"$@\"", "verbcpu", sys.executable] + sys.argv)
    rts = {k: shlex.split(c) for k, c in (r.split("=", 1) for r in a.runtimes)}
    res: dict = {r: {"start": [], "delete": []} for r in rts}
    tag = f"vc{os.getpid()}"
    for i in range(a.n):
        for r, cmd in rts.items():
            cid = f"{tag}-{r}-{i}"
            subprocess.run(cmd + ["create", "--bundle", a.bundle, cid], check=True, cwd=a.bundle)
            try:
                time.sleep(0.1)
                res[r]["start"].append(timed(cmd + ["start", cid]))
                for _ in range(200):
                    out = subprocess.run(cmd + ["state", cid], capture_output=True, text=True).stdout
                    if '"stopped"' in out:
                        break
                    time.sleep(0.01)
                time.sleep(0.1)
                res[r]["delete"].append(timed(cmd + ["delete", cid]))
            except BaseException:
                subprocess.run(cmd + ["delete", "--force", cid], stderr=subprocess.DEVNULL)
                raise
    first = next(iter(rts))
    print(f"## verbcpu: {a.n} rounds, interleaved; medians in ms; ratios to {first}")
    print("| verb | runtime | wall | CPU (user+sys) | wall ratio | CPU ratio |")
    print("|---|---|---|---|---|---|")
    for v in ("start", "delete"):
        ref = [statistics.median(x[k] for x in res[first][v]) for k in (0, 1)]
        for r in rts:
            w, c = (statistics.median(x[k] for x in res[r][v]) for k in (0, 1))
            print(f"| {v} | {r} | {w:.1f} | {c:.1f} | {w / ref[0]:.2f}x | {c / ref[1]:.2f}x |")


if __name__ == "__main__":
    main()
