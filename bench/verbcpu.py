#!/usr/bin/env python3
"""CPU time and wall time of `start`, `delete` and `exec --process`, per runtime, interleaved.

Wall times of a 6-15 ms command swing by 2 ms from run to run on a shared
2-CPU machine (breakdown.py's medians of 40 moved start from 1.65x to 2.03x
runc between runs); the CPU a command used (user + system, getrusage(2)
RUSAGE_CHILDREN around it) swings less, and is what a verb costs a busy
host. For each round, each runtime creates a container of the bundle
(/bin/true), then after a 0.1 s idle gap its `start` is timed, then (once
`state` says stopped, and another 0.1 s) its `delete`; then a container of the
same bundle running `sleep` is started and `exec --process` of /bin/true in it is
timed (containerd's ExecSync: every kubelet probe). Medians.

    python3 bench/verbcpu.py [-n ROUNDS] [--bundle DIR] NAME=CMD ...
    python3 bench/verbcpu.py runc=runc base=/tmp/base/pycontainer now=/usr/local/bin/pycontainer

Root only. Runs itself in a private mount namespace without
/sys/fs/cgroup/unified, as breakdown.py does (crun 1.8 refuses hybrid hosts).
"""

import argparse
import json
import os
import resource
import shlex
import shutil
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


def sleeping_bundle(bundle: str) -> tuple[str, str]:
    """A bundle beside ``bundle`` (its rootfs, its config) whose process sleeps, and a
    process.json of /bin/true for exec -> (bundle dir, process file)."""
    import tempfile
    d = tempfile.mkdtemp(prefix="verbcpu.")
    with open(os.path.join(bundle, "config.json")) as f:
        cfg = json.load(f)
    cfg["root"]["path"] = os.path.join(os.path.abspath(bundle), cfg["root"]["path"])
    cfg["process"]["args"] = ["/bin/sh", "-c", "sleep 1000"]
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    proc = dict(cfg["process"], args=["/bin/true"], terminal=False)
    with open(os.path.join(d, "process.json"), "w") as f:
        json.dump(proc, f)
    return d, os.path.join(d, "process.json")


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
    verbs = ("start", "delete", "exec")
    res: dict = {r: {v: [] for v in verbs} for r in rts}
    tag = f"vc{os.getpid()}"
    sleeper, process = sleeping_bundle(a.bundle)
    try:
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
                cid += "-x"
                subprocess.run(cmd + ["create", "--bundle", sleeper, cid], check=True, cwd=sleeper)
                try:
                    subprocess.run(cmd + ["start", cid], check=True)
                    time.sleep(0.1)
                    res[r]["exec"].append(timed(cmd + ["exec", "--process", process, cid]))
                finally:
                    subprocess.run(cmd + ["delete", "--force", cid], stderr=subprocess.DEVNULL)
    finally:
        shutil.rmtree(os.path.dirname(process), ignore_errors=True)
    first = next(iter(rts))
    print(f"## verbcpu: {a.n} rounds, interleaved; medians in ms; ratios to {first}")
    print("| verb | runtime | wall | CPU (user+sys) | wall ratio | CPU ratio |")
    print("|---|---|---|---|---|---|")
    for v in verbs:
        ref = [statistics.median(x[k] for x in res[first][v]) for k in (0, 1)]
        for r in rts:
            w, c = (statistics.median(x[k] for x in res[r][v]) for k in (0, 1))
            print(f"| {v} | {r} | {w:.1f} | {c:.1f} | {w / ref[0]:.2f}x | {c / ref[1]:.2f}x |")


if __name__ == "__main__":
    main()
